"""The audit log's tables: the entries, the head that remembers the last one appended, and the archive of
official documents."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from cybercoop.audit import rules
from cybercoop.core.append_only import AppendOnlyModel


class AuditEntry(AppendOnlyModel):
    """One audited event: who, for which body, did what to which object, when, in which request.

    Rows are only ever inserted (`audit.services.record`); the database refuses updates and deletes
    with triggers (migration 0002) and `check_chain` detects anything changed behind its back.
    """

    seq = models.PositiveBigIntegerField(_("number"), unique=True)
    at = models.DateTimeField(_("time"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    actor_label = models.CharField(_("user name"), max_length=150, blank=True)
    body = models.ForeignKey(
        "registry.Body",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("competent body"),
    )
    body_label = models.CharField(_("body code"), max_length=32, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object"), max_length=64, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)
    request_id = models.CharField(_("HTTP request ID"), max_length=64, blank=True)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-seq"]
        indexes = [models.Index(fields=["at"]), models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    def hashed_fields(self) -> dict[str, Any]:
        """The fields the hash covers, in the form `rules.entry_digest` takes."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "body_id": self.body_id,
            "body_label": self.body_label,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "data": self.data,
            "request_id": self.request_id,
            "prev_hash": self.prev_hash,
        }

    @property
    def action_label(self) -> str:
        return rules.action_label(self.action)


class AuditHead(models.Model):
    """The single row that points at the last entry; appends lock it, so the chain never forks."""

    last_seq = models.PositiveBigIntegerField(_("last number"), default=0)
    last_hash = models.CharField(_("last hash"), max_length=64, default=rules.GENESIS_HASH)

    class Meta:
        verbose_name = _("audit log head")
        verbose_name_plural = _("audit log head")

    def __str__(self) -> str:
        return f"head #{self.last_seq}"


def _sha256_hex(value: str) -> None:
    if not rules.is_sha256(value):
        raise ValidationError(_("Not a SHA-256 digest."))


def _archive_upload_to(instance: ArchivedDocument, filename: str) -> str:
    return rules.archive_name(instance.sha256, instance.media_type)


class ArchivedDocument(AppendOnlyModel):
    """An official document kept whole, once, by its SHA-256 (issue 6; P19 for the depositary's instruments).

    Only `audit.archive.keep` adds one; the file's name is made from the SHA-256 (`rules.archive_name`), so the
    same bytes are never kept twice, and every read hashes the file again. Rows are never changed or removed
    (the database refuses, migration 0003): what was kept, for which object, by whom and when stays on record.
    """

    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True, validators=[_sha256_hex])
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"))
    media_type = models.CharField(_("type"), max_length=100)
    file = models.FileField(_("file"), upload_to=_archive_upload_to, max_length=100)
    kind = models.CharField(_("kind"), max_length=32, db_index=True)
    name = models.CharField(_("file name"), max_length=200)
    reference = models.CharField(_("reference"), max_length=200, blank=True)
    body_code = models.CharField(_("body code"), max_length=32, blank=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object"), max_length=64, blank=True)
    archived_at = models.DateTimeField(_("archived"))
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("archived by"),
    )

    class Meta:
        verbose_name = _("archived document")
        verbose_name_plural = _("archived documents")
        ordering = ["archived_at", "pk"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.sha256[:12]})"
