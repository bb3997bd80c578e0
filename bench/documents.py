"""Benchmark: official documents — rendering each kind to PDF (and, once signing exists, signing and verifying).

    .venv/bin/python bench/documents.py              # 50 renders of each kind, or $BENCH_DOCUMENTS
    .venv/bin/python bench/documents.py -n 10        # a quick check

Each kind of `documents.render.DocumentKind` is rendered with realistic values (a request of about two
pages, replies of one page; the request also with a Kazakh annex) once to warm up, then n times, timed with
time.perf_counter. No database: rendering is pure. Prints p50/p95/max per kind and writes
var/bench/documents.json with the machine. `measure_sign_and_verify` is where signing and verification
timings go (documents/signing.py, verification.py): until it measures something the JSON says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cybercoop.settings")
N = int(os.environ.get("BENCH_DOCUMENTS", "50"))


def sample_documents() -> dict[str, Any]:
    """One realistic document of each kind (and a request with a Kazakh annex), keyed by a name."""
    from cybercoop.documents.render import BodyHeading, DocumentData, DocumentKind, Section, SectionKey

    sender = BodyHeading(
        name="Агентство Республики Казахстан по финансовому мониторингу",
        party_name="Республика Казахстан",
        code="KZ-AFM",
        address="010000, г. Астана, пр. Мәңгілік Ел, 8",
        contacts="+7 7172 00-00-00, duty@afm.example.kz",
    )
    addressee = BodyHeading(
        name="Управление «К» Министерства внутренних дел Российской Федерации",
        party_name="Российская Федерация",
        code="RU-MVD-K",
    )
    paragraph = (
        "В период с 1 по 10 октября 2026 года неустановленные лица разместили в сети Интернет страницы, "
        "имитирующие сайты банков второго уровня, и получили реквизиты платёжных карт граждан. "
    )
    reference = "№ KZ-AFM-2026-00016 от 21.11.2026 «О предоставлении сведений о владельцах доменов»"
    sections: dict[str, list[Section]] = {
        DocumentKind.REQUEST: [
            Section.of(SectionKey.SCOPE, "Преступления в сфере информационных технологий"),
            Section.of(SectionKey.PURPOSE, "Установление лиц, причастных к хищению денежных средств граждан."),
            Section.of(SectionKey.GROUNDS, "Уголовное дело № 2026-0042, возбуждённое 12.10.2026. " * 3),
            Section.of(SectionKey.SUBSTANCE, paragraph * 12),
            Section.of(SectionKey.ASSISTANCE_KINDS, "Оперативно-розыскные мероприятия; процессуальные действия"),
            Section.of(SectionKey.ASSISTANCE_SOUGHT, "Предоставить сведения о владельцах доменов. " * 4),
            Section.of(SectionKey.IDENTIFIERS, "\n".join(f"203.0.113.{n}" for n in range(1, 21))),
            Section.of(SectionKey.OTHER_INFORMATION, "Контактное лицо: следователь Жұмабаев Ө. Ғ."),
        ],
        DocumentKind.URGENT_CONFIRMATION: [
            Section.of(SectionKey.URGENT_REQUEST, reference),
            Section.of(SectionKey.PURPOSE, "Установление лиц, причастных к хищению денежных средств граждан."),
            Section.of(SectionKey.GROUNDS, "Уголовное дело № 2026-0042, возбуждённое 12.10.2026."),
            Section.of(SectionKey.SUBSTANCE, paragraph * 3),
            Section.of(SectionKey.ASSISTANCE_SOUGHT, "Предоставить сведения о владельцах доменов."),
        ],
        DocumentKind.REFUSAL: [
            Section.of(SectionKey.REQUEST_REFERENCE, reference),
            Section.of(SectionKey.REASONS, "Исполнение противоречит законодательству запрашиваемой Стороны. " * 4),
        ],
        DocumentKind.PARTIAL_REFUSAL: [
            Section.of(SectionKey.REQUEST_REFERENCE, reference),
            Section.of(SectionKey.REFUSED_PART, "Изъятие журналов доступа к серверу."),
            Section.of(SectionKey.REASONS, "Исполнение в этой части противоречит закону о связи. " * 3),
        ],
        DocumentKind.POSTPONEMENT: [
            Section.of(SectionKey.REQUEST_REFERENCE, reference),
            Section.of(SectionKey.UNTIL, "15.01.2027"),
            Section.of(SectionKey.REASONS, "Немедленное исполнение помешает уголовному преследованию. " * 2),
        ],
        DocumentKind.CONDITIONS: [
            Section.of(SectionKey.REQUEST_REFERENCE, reference),
            Section.of(SectionKey.CONDITIONS, "Сведения используются только в уголовном деле № 2026-0042."),
            Section.of(SectionKey.REASONS, "Сведения получены в ходе другого расследования."),
        ],
        DocumentKind.RESULTS: [
            Section.of(SectionKey.REQUEST_REFERENCE, reference),
            Section.of(SectionKey.SUMMARY, "Установлены владельцы двух доменов; сведения прилагаются. " * 5),
            Section.of(SectionKey.ATTACHMENTS, "Справка на 3 листах; выписка на 12 листах."),
        ],
    }
    documents: dict[str, Any] = {}
    for kind in DocumentKind:
        documents[kind.value] = DocumentData(
            kind=kind,
            number="KZ-AFM-2026-00017",
            date=dt.date(2026, 11, 23),
            sender=sender,
            addressee=addressee,
            title="О предоставлении сведений о владельцах доменов",
            sections=sections[kind],
            legal_basis="Протокол о взаимодействии государств — членов ОДКБ по противодействию преступной "
            "деятельности в информационной сфере",
            signatory_name="А. Б. Сейтқалиев",
            signatory_position="Заместитель Председателя Агентства",
        )
    documents["request+annex_kk"] = dataclasses.replace(documents[DocumentKind.REQUEST.value], annex_language="kk")
    return documents


def _figures(laps: list[float], **extra: Any) -> dict[str, Any]:
    laps = sorted(laps)
    return {
        "n": len(laps),
        "p50_ms": round(statistics.median(laps) * 1000, 1),
        "p95_ms": round(laps[min(len(laps) - 1, int(len(laps) * 0.95))] * 1000, 1),
        "max_ms": round(laps[-1] * 1000, 1),
        **extra,
    }


def _timed(action: Callable[[], Any], n: int) -> list[float]:
    action()  # warm up: fonts, templates, catalogues
    laps = []
    for _ in range(n):
        start = time.perf_counter()
        action()
        laps.append(time.perf_counter() - start)
    return laps


def measure_render(n: int) -> dict[str, Any]:
    """Render each sample document n times: p50/p95/max in ms, with its pages and size."""
    from cybercoop.documents.render import render

    results = {}
    for name, data in sample_documents().items():
        rendered = render(data)
        laps = _timed(functools.partial(render, data), n)
        results[name] = _figures(laps, pages=rendered.pages, bytes=len(rendered.pdf))
    return results


def measure_sign_and_verify(n: int) -> dict[str, Any] | None:
    """Render+sign and verify timings per document (issue 6): each sample is rendered and signed (documents.signing:
    the head's role checked, a fresh TOTP code spent, the key decrypted, PAdES B-B, the audit entry written), then
    verified (documents.verification: pyHanko, chain to the Party's CA, role and body), n times after a warm-up.

    A throwaway test database (in memory on SQLite; test_… on PostgreSQL with DATABASE_URL) holds a Party CA and
    the head of a body with a certificate and a TOTP device; between laps, outside the timing, the device's last
    used time step is reset, since a real code opens one signature only.
    """
    import logging
    import tempfile

    from django.conf import settings
    from django.db import connection
    from django_otp.oath import TOTP

    from cybercoop.accounts.models import SealedTOTPDevice as TOTPDevice
    from cybercoop.accounts.models import User
    from cybercoop.documents import pki, signing
    from cybercoop.documents.render import render
    from cybercoop.documents.verification import verify_pdf
    from cybercoop.registry.models import Body, Party

    logging.getLogger("cybercoop.documents").setLevel(logging.WARNING)  # a line per signature would swamp the output
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        settings.DOCUMENTS_KEY_FILE = Path(folder) / "keys.key"
        database = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True)
        try:
            party = Party.objects.create(
                code="KZ", kind="state", time_zone="Asia/Almaty", name_ru="Республика Казахстан"
            )
            body = Body.objects.create(
                party=party,
                code="KZ-AFM",
                kind="law_enforcement",
                name_ru="Агентство Республики Казахстан по финансовому мониторингу",
            )
            head = User.objects.create_user("bench.head", full_name="Сейтқалиев Асхат Болатұлы", body=body, role="head")
            authority = pki.create_party_ca(party)
            pki.issue_signer(head)
            device = TOTPDevice.objects.create(user=head, name="bench", confirmed=True)

            def fresh_code() -> str:
                TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
                totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
                return f"{totp.token():0{device.digits}d}"

            for name, data in sample_documents().items():
                render_and_sign, sign_only, verify = [], [], []
                for lap in range(n + 1):  # lap 0 warms up
                    code = fresh_code()
                    started = time.perf_counter()
                    pdf = render(data).pdf
                    rendered = time.perf_counter()
                    signed = signing.sign_pdf(pdf, actor=head, body=body, code=code, reason=data.title)
                    signed_at = time.perf_counter()
                    result = verify_pdf(
                        signed, trusted_party_cas=[authority.certificate_pem], expected_body_code=body.code
                    )
                    verified = time.perf_counter()
                    assert result.valid, result.reasons
                    if lap:
                        render_and_sign.append(signed_at - started)
                        sign_only.append(signed_at - rendered)
                        verify.append(verified - signed_at)
                results[name] = {
                    "render_and_sign": _figures(render_and_sign, bytes=len(signed)),
                    "sign": _figures(sign_only),
                    "verify": _figures(verify),
                }
                print(
                    f"sign   {name:>22}: render+sign p50={results[name]['render_and_sign']['p50_ms']} "
                    f"p95={results[name]['render_and_sign']['p95_ms']}, sign p50={results[name]['sign']['p50_ms']} "
                    f"p95={results[name]['sign']['p95_ms']}, verify p50={results[name]['verify']['p50_ms']} "
                    f"p95={results[name]['verify']['p95_ms']} (ms)"
                )
        finally:
            connection.creation.destroy_test_db(database, verbosity=0)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=N, help="timed repetitions per document (default %(default)s)")
    args = parser.parse_args()

    import django

    django.setup()
    import logging

    logging.getLogger("weasyprint").setLevel(logging.WARNING)  # its progress lines would swamp the output

    results: dict[str, Any] = {"render": measure_render(args.n)}
    signing = measure_sign_and_verify(args.n)
    results["sign_and_verify"] = signing if signing is not None else "not measured yet (no signing backend)"
    report = {
        "benchmark": "documents",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "results": results,
    }
    out = ROOT / "var" / "bench" / "documents.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    for name, figures in results["render"].items():
        print(f"render {name:>22}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    if signing is None:
        print("sign/verify: not measured yet")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
