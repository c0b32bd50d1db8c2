"""SMTP delivery with failures sorted into transient (retry later) and permanent (a bounce); or, with
PAPERBOY_MAIL_OUTBOX set, every message written to a folder instead (a server without a mail relay)."""

from __future__ import annotations

import contextlib
import logging
import os
import smtplib
import ssl
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from paperboy.config import Settings

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """Sending failed; `permanent` says whether retrying can help (5xx) or not (4xx, network)."""

    def __init__(self, message: str, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


def _describe(exc: smtplib.SMTPResponseException) -> str:
    text = (
        exc.smtp_error.decode("utf-8", "replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    return f"{exc.smtp_code} {text}".strip()


class Mailer:
    """One SMTP connection reused for a batch; reconnects after a failure."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            smtp: smtplib.SMTP
            if s.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
                if s.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused: {_describe(exc)}", permanent=False) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP server {s.smtp_host}:{s.smtp_port}: {_describe(exc)}", permanent=False
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(
                f"cannot reach the SMTP server {s.smtp_host}:{s.smtp_port}: {exc or type(exc).__name__}",
                permanent=False,
            ) from None
        return smtp

    def send(self, message: EmailMessage) -> None:
        """Send one message; DeliveryError says whether the failure is permanent."""
        if self.settings.mail_outbox is not None:
            self._write(message, Path(self.settings.mail_outbox))
            return
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(
                f"{addr}: {code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
                for addr, (code, text) in exc.recipients.items()
            )
            raise DeliveryError(
                f"recipient refused: {detail}", permanent=all(c >= 500 for c in codes)
            ) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise DeliveryError(f"SMTP error: {_describe(exc)}", permanent=exc.smtp_code >= 500) from None
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            self.close()
            raise DeliveryError(
                f"SMTP connection failed: {exc or type(exc).__name__}", permanent=False
            ) from None
        if refused:
            detail = "; ".join(f"{addr}: {code}" for addr, (code, _) in refused.items())
            raise DeliveryError(f"recipient refused: {detail}", permanent=True)

    @staticmethod
    def _write(message: EmailMessage, outbox: Path) -> None:
        """Save the message as an .eml file (for a mail client) and its plain text beside it as .txt (for
        a person with a terminal: its links are whole, not quoted-printable). Each is written aside, then
        renamed, so a reader never sees half; names sort in the order the messages were written."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        name = f"{stamp}-{uuid.uuid4().hex[:8]}"
        body = message.get_body(preferencelist=("plain",))
        readable = "".join(f"{field}: {message[field]}\n" for field in ("From", "To", "Subject", "Date"))
        readable += "\n" + (body.get_content() if isinstance(body, EmailMessage) else "")
        try:
            outbox.mkdir(parents=True, exist_ok=True)
            for suffix, data in ((".txt", readable.encode()), (".eml", message.as_bytes())):
                temporary = outbox / f".{name}{suffix}.tmp"
                temporary.write_bytes(data)
                os.replace(temporary, outbox / f"{name}{suffix}")
        except OSError as exc:
            raise DeliveryError(f"cannot write to the mail outbox {outbox}: {exc}", permanent=False) from None
        log.info(
            "email to %s (%s) saved as %s (PAPERBOY_MAIL_OUTBOX is set: no mail is sent)",
            message["To"],
            message["Subject"],
            outbox / f"{name}.txt",
        )

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
