"""The ``hl7`` CLI group, the ``flask serve`` service and the outbox job registration."""

from __future__ import annotations

from app.jobs import registered_jobs
from app.services import services
from tests.integrations.hl7.conftest import adt, cid, exchange, msa


def test_registered_as_service_job_and_cli(app):
    assert "hl7" in services(app)
    assert "hl7-outbox" in registered_jobs(app)
    assert {"serve", "send", "drain", "stand-in"} <= set(app.cli.commands["hl7"].commands)


def test_the_flask_serve_starter_listens_until_stopped(app, network, monkeypatch):
    from integrations.hl7 import mllp, start_listener_service

    monkeypatch.setitem(app.config, "HL7_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "HL7_PORT", 0)
    started = []
    original = mllp.MllpServer.start

    def remember(self):
        started.append(self)
        return original(self)

    monkeypatch.setattr(mllp.MllpServer, "start", remember)
    stop = start_listener_service(app)
    try:
        [ack] = exchange(started[0].port, adt("SVC0001", cid("110170023077")))
        assert msa(ack) == ("AA", "SVC0001")
    finally:
        stop()


def test_hl7_send_prints_the_answer(app, listener, tmp_path):
    message = tmp_path / "adt.hl7"
    message.write_text(adt("CLI0001", cid("110170023077")).replace("\r", "\n"), "utf-8")
    result = app.test_cli_runner().invoke(
        args=["hl7", "send", str(message), "--port", str(listener.port)]
    )
    assert result.exit_code == 0, result.output
    assert "MSA|AA|CLI0001" in result.output


def test_hl7_drain_with_nothing_due(app, db):
    result = app.test_cli_runner().invoke(args=["hl7", "drain"])
    assert result.exit_code == 0 and "sent: 0" in result.output
