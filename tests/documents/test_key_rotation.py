"""Rotating the node's documents key (docs/security-at-rest.md, "Rotating a node key"): the private keys of the
Parties' authorities and of the signers sealed again under a new key, each still signing, the old key kept until no
private key is under it and an hour has passed; each step in the audit log, with key ids only."""

from __future__ import annotations

from django.core.management import call_command

from cybercoop.audit.models import AuditEntry
from cybercoop.documents import pki
from cybercoop.documents.models import PartyAuthority, SignerCredential
from tests.documents.signers import *  # noqa: F403  (the signing fixtures)


def _public(credential) -> object:
    return pki.load_certificate(credential.certificate_pem).public_key().public_numbers()


def test_rotating_seals_every_private_key_again_and_each_still_opens(kz_head, kz_deputy, sign_kz_ca):
    head, deputy = pki.issue_signer(kz_head), pki.issue_signer(kz_deputy)
    authority = PartyAuthority.objects.get(party=kz_head.body.party)
    old = pki.KEY.current_id()

    previous, current, count, unreadable = pki.ROTATION.rotate()

    assert (previous, count, unreadable) == (old, 3, [])  # the authority's key and the two signers'
    assert current == pki.KEY.current_id() != old
    assert pki.documents_by_key() == {current: 3}
    for credential in (head, deputy):
        fresh = SignerCredential.objects.get(pk=credential.pk)
        assert bytes(fresh.private_key_encrypted) != bytes(credential.private_key_encrypted)
        assert pki.open_credential(fresh).private_key.public_key().public_numbers() == _public(credential)
    authority.refresh_from_db()
    assert pki.key_id_of(authority.private_key_encrypted) == current
    pki.issue_signer(kz_head)  # the authority signs a new certificate with its re-sealed key
    actions = AuditEntry.objects.filter(action__startswith="documents:documents_key:").order_by("seq")
    assert list(actions.values_list("action", flat=True)) == [
        "documents:documents_key:rotated",
        "documents:documents_key:rewrapped",
    ]


def test_a_private_key_under_the_previous_key_opens_until_retired(kz_head, sign_kz_ca):
    credential = pki.issue_signer(kz_head)
    old, new = pki.KEY.rotate()
    assert pki.open_credential(credential).private_key is not None  # the previous key still opens it

    assert pki.ROTATION.retire(grace_seconds=0) == (
        [],
        {old: "2 of the private keys still under it: re-wrap them first"},
    )
    assert pki.ROTATION.rewrap() == (2, [])
    assert pki.ROTATION.retire(grace_seconds=0) == ([old], {})
    assert pki.KEY.keyring().keys() == {new}
    assert pki.open_credential(SignerCredential.objects.get(pk=credential.pk)).private_key is not None


def test_a_private_key_that_does_not_open_is_left_and_named(kz_head, kz_deputy, sign_kz_ca):
    head, deputy = pki.issue_signer(kz_head), pki.issue_signer(kz_deputy)
    pki.KEY.rotate()
    SignerCredential.objects.filter(pk=deputy.pk).update(private_key_encrypted=head.private_key_encrypted)

    count, unreadable = pki.ROTATION.rewrap()

    assert (count, unreadable) == (2, [f"signercredential:{deputy.pk}"])


def test_the_keys_command_knows_the_documents_key(kz_head, sign_kz_ca, capsys):
    pki.issue_signer(kz_head)
    call_command("keys", "documents", "rotate")
    out = capsys.readouterr().out
    assert "re-wrapped under the current key: 2 private keys" in out
    assert f"  current  {pki.KEY.current_id()}  private keys: 2" in out
