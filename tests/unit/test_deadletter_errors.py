"""A dead letter's error description names the problem without the record's values."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from shared.kafka.deadletter import describe_error


class UniqueViolationError(Exception):
    pass


def test_a_database_error_is_described_without_parameters_or_detail():
    driver = UniqueViolationError(
        'duplicate key value violates unique constraint "uq_contact"\n'
        "DETAIL:  Key (value)=(anna@example.nl) already exists."
    )
    exc = IntegrityError(
        "INSERT INTO party_identifiers (kind, value) VALUES ($1, $2)",
        ("email", "anna@example.nl"),
        driver,
    )
    assert "anna@example.nl" in str(exc)  # what the old description echoed
    text = describe_error(exc)
    assert "anna@example.nl" not in text
    assert text == (
        "IntegrityError (UniqueViolationError): "
        'duplicate key value violates unique constraint "uq_contact"'
    )
