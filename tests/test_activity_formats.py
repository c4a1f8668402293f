"""The activity file readers (foliodb/activity_formats.py) on the sample files of
examples/activities/: every row mapped to the canonical fields as docs/activities.md says,
the same external ids on every read, each bad row named by line and field, unknown and
unsupported types refused.

Every expected row below is written by hand from the sample file's line (the arithmetic is in
the comments), not from the reader's output.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal
from pathlib import Path

import pytest

from foliodb import activity_formats as af
from foliodb.portfolio_io import ValidationError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "activities"


def D(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def expected_row(
    line: int,
    day: str,
    kind: str,
    symbol: str | None = None,
    quantity: str | None = None,
    unit_price: str | None = None,
    amount: str | None = None,
    fee: str | None = None,
    currency: str = "USD",
    notes: str | None = None,
    fx_rate: str | None = None,
) -> tuple:
    return (
        line,
        dt.date.fromisoformat(day),
        kind,
        symbol,
        D(quantity),
        D(unit_price),
        D(amount),
        D(fee),
        currency,
        notes,
        D(fx_rate),
    )


def mapped(rows: list[tuple[int, dict]]) -> list[tuple]:
    """The rows without source and external_id (tested on their own below)."""
    return [
        (
            line,
            row["activity_date"],
            row["activity_type"],
            row["symbol"],
            row["quantity"],
            row["unit_price"],
            row["amount"],
            row["fee"],
            row["currency"],
            row["notes"],
            row["fx_rate"],
        )
        for line, row in rows
    ]


def problems(path: Path, fmt: str | None = None) -> list:
    with pytest.raises(ValidationError) as caught:
        af.read_activities(path, fmt)
    return caught.value.issues


def where(issues: list) -> list[tuple[int | None, str | None]]:
    return [(issue.line, issue.field) for issue in issues]


# ---------------------------------------------------------------------------- the samples

FOLIODB_EXPECTED = [
    expected_row(2, "2024-01-02", "DEPOSIT", amount="10000", notes="opening deposit"),
    expected_row(3, "2024-01-03", "BUY", "NVDA", "2", "481.68", "963.36", "1"),
    # amount left empty: 10 x 235.50 = 2355.00
    expected_row(
        4,
        "2024-01-03",
        "BUY",
        "VTI",
        "10",
        "235.50",
        "2355.00",
        "1",
        notes="first buy, market order",
    ),
    expected_row(
        5, "2024-03-27", "DIVIDEND", "VTI", "10", "0.91", "9.10", notes="quarterly dividend"
    ),
    expected_row(6, "2024-04-15", "FEE", amount="5", notes="account fee"),
    expected_row(
        7, "2024-04-15", "TAX", "VTI", amount="1.37", notes="withholding tax on the March dividend"
    ),
    expected_row(8, "2024-06-10", "SPLIT", "NVDA", "10", notes="10-for-1 split"),
    expected_row(9, "2024-07-01", "SELL", "VTI", "4", "262.25", "1049", "1", notes="partial sell"),
    expected_row(10, "2024-07-31", "INTEREST", amount="12.34", notes="cash interest"),
    expected_row(
        11,
        "2024-08-15",
        "TRANSFER_IN",
        "MSFT",
        "3",
        "420",
        "1260",
        notes="shares moved in from another broker",
    ),
    expected_row(12, "2024-09-02", "WITHDRAWAL", amount="500"),
    expected_row(13, "2024-10-01", "BUY", "VTI", "1", "270", "270", "0", notes="monthly plan"),
    expected_row(14, "2024-10-01", "BUY", "VTI", "1", "270", "270", "0", notes="monthly plan"),
]

GHOSTFOLIO_EXPECTED = [
    # each activity's line is the line of its "{"; amount = quantity x unitPrice
    expected_row(44, "2024-01-03", "BUY", "NVDA", "2", "481.68", "963.36", "1"),
    expected_row(58, "2024-01-03", "BUY", "VTI", "10", "235.5", "2355", "1", notes="first buy"),
    # 10 x 0.91 = 9.10
    expected_row(
        72, "2024-03-27", "DIVIDEND", "VTI", "10", "0.91", "9.10", "0", notes="quarterly dividend"
    ),
    # FEE: the charge is Ghostfolio's "fee" (5) plus 0 x 0; a MANUAL placeholder is no symbol
    expected_row(86, "2024-04-15", "FEE", amount="5", fee="0", notes="account fee"),
    expected_row(
        100, "2024-07-01", "SELL", "VTI", "4", "262.25", "1049", "1", notes="partial sell"
    ),
    # INTEREST: 1 x 12.34
    expected_row(114, "2024-07-31", "INTEREST", amount="12.34", fee="0", notes="cash interest"),
]

WEALTHFOLIO_EXPECTED = [
    # $CASH-USD and the 1 x 1 placeholders of a cash event: amount only
    expected_row(2, "2024-01-02", "DEPOSIT", amount="10000", fee="0", notes="opening deposit"),
    # amount empty: 2 x 481.68 = 963.36
    expected_row(3, "2024-01-03", "BUY", "NVDA", "2", "481.68", "963.36", "1"),
    expected_row(4, "2024-01-03", "BUY", "VTI", "10", "235.50", "2355", "1", notes="first buy"),
    # 10 x 0.91 = 9.10; the subtype goes to the notes
    expected_row(
        5,
        "2024-03-27",
        "DIVIDEND",
        "VTI",
        "10",
        "0.91",
        "9.10",
        "0",
        notes="[QUALIFIED] quarterly dividend",
    ),
    expected_row(6, "2024-04-15", "FEE", amount="5", fee="0", notes="[MANAGEMENT_FEE] account fee"),
    expected_row(7, "2024-04-15", "TAX", "VTI", amount="1.37", fee="0", notes="[WITHHOLDING]"),
    # the ratio is Wealthfolio's amount (10)
    expected_row(8, "2024-06-10", "SPLIT", "NVDA", "10", notes="10-for-1 split"),
    # 4 x 262.25 = 1049
    expected_row(9, "2024-07-01", "SELL", "VTI", "4", "262.25", "1049", "1", notes="partial sell"),
    expected_row(10, "2024-07-31", "INTEREST", amount="12.34", fee="0", notes="cash interest"),
    # a transfer of shares at a stated value: 3 x 420 = 1260
    expected_row(
        11,
        "2024-08-15",
        "TRANSFER_IN",
        "MSFT",
        "3",
        "420",
        "1260",
        "0",
        notes="from another broker",
    ),
    expected_row(12, "2024-09-02", "WITHDRAWAL", amount="500", fee="0"),
    # a transfer of cash: no symbol
    expected_row(
        13, "2024-09-30", "TRANSFER_OUT", amount="200", fee="0", notes="cash to the savings account"
    ),
    # a EUR listing bought from the USD account at fxRate 0.92, Wealthfolio's activity -> position
    # rate (EUR per USD); foliodb's fx_rate is the account's currency per the security's: 1 / 0.92
    expected_row(
        14,
        "2024-10-01",
        "BUY",
        "SAP.DE",
        "5",
        "200.00",
        "1000",
        "1.00",
        notes="bought in EUR",
        fx_rate=str(Decimal(1) / Decimal("0.92")),
    ),
]

PP_EXPECTED = [
    expected_row(2, "2024-01-02", "DEPOSIT", amount="10000", fee="0", notes="opening deposit"),
    # Value -964.36 is what was paid: gross = 964.36 - 1.00 fees = 963.36 = 2 x 481.68
    expected_row(3, "2024-01-03", "BUY", "NVDA", "2", "481.68", "963.36", "1"),
    # 2,356.00 - 1.00 = 2355.00 = 10 x 235.50
    expected_row(4, "2024-01-03", "BUY", "VTI", "10", "235.5", "2355", "1", notes="first buy"),
    # Value 7.73 is what was credited: gross = 7.73 + 1.37 taxes = 9.10; the taxes a TAX row
    expected_row(
        5, "2024-03-27", "DIVIDEND", "VTI", "10", None, "9.10", "0", notes="quarterly dividend"
    ),
    expected_row(
        5, "2024-03-27", "TAX", "VTI", amount="1.37", notes="taxes of the Dividend on line 5"
    ),
    expected_row(6, "2024-04-15", "FEE", amount="5", fee="0", notes="account fee"),
    expected_row(7, "2024-04-16", "TAX", amount="2", fee="0", notes="tax on the account"),
    # Value 1,048.00 is what was received: gross = 1048 + 1 = 1049 = 4 x 262.25
    expected_row(8, "2024-07-01", "SELL", "VTI", "4", "262.25", "1049", "1", notes="partial sell"),
    expected_row(9, "2024-07-31", "INTEREST", amount="12.34", fee="0", notes="cash interest"),
    # a delivery in at its stated value: 1,260.00 for 3 shares = 420 each
    expected_row(
        10,
        "2024-08-15",
        "TRANSFER_IN",
        "MSFT",
        "3",
        "420",
        "1260",
        "0",
        notes="from another broker",
    ),
    expected_row(11, "2024-09-02", "WITHDRAWAL", amount="500", fee="0"),
    # a transfer between accounts: cash, no symbol
    expected_row(
        12, "2024-09-30", "TRANSFER_OUT", amount="200", fee="0", notes="to the savings account"
    ),
]

PP_DE_EXPECTED = [
    expected_row(2, "2024-01-02", "DEPOSIT", amount="10000", fee="0", currency="EUR"),
    # Kauf -1.234,57 with 4,90 fees for 12,5 shares: gross 1229.67, 1229.67 / 12.5 = 98.3736
    expected_row(
        3, "2024-01-03", "BUY", "EUNL.DE", "12.5", "98.3736", "1229.67", "4.90", "EUR", "Sparplan"
    ),
    # Verkauf 600,10 received, 4,90 fees, 0,50 taxes, 6,25 shares: gross 605.50 = 6.25 x 96.88
    expected_row(4, "2024-02-01", "SELL", "EUNL.DE", "6.25", "96.88", "605.50", "4.90", "EUR"),
    expected_row(
        4,
        "2024-02-01",
        "TAX",
        "EUNL.DE",
        amount="0.50",
        currency="EUR",
        notes="taxes of the Verkauf on line 4",
    ),
    expected_row(5, "2024-03-01", "WITHDRAWAL", amount="100", fee="0", currency="EUR"),
    # NVDA (USD) bought from the EUR account: Bruttobetrag 980,00 USD at Wechselkurs 0,9200 EUR
    # per USD is 901.60 EUR (= Wert 905,27 less 3,67 fees) = 2 x 450.80; fx_rate the rate
    expected_row(
        6,
        "2024-04-02",
        "BUY",
        "NVDA",
        "2",
        "450.80",
        "901.60",
        "3.67",
        "EUR",
        "in USD gekauft",
        fx_rate="0.92",
    ),
    # a USD dividend credited in EUR without a Wechselkurs: 13,80 EUR for 15,00 USD is 0.92
    expected_row(
        7, "2024-06-28", "DIVIDEND", "NVDA", "2", None, "13.80", "0", "EUR", fx_rate="0.92"
    ),
]

SAMPLES = [
    ("foliodb.csv", "foliodb", FOLIODB_EXPECTED),
    ("ghostfolio.json", "ghostfolio", GHOSTFOLIO_EXPECTED),
    ("wealthfolio.csv", "wealthfolio", WEALTHFOLIO_EXPECTED),
    ("pp.csv", "pp", PP_EXPECTED),
    ("pp_de.csv", "pp", PP_DE_EXPECTED),
]


@pytest.mark.parametrize(("name", "fmt", "expected"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_sample_maps_to_the_canonical_rows(name: str, fmt: str, expected: list[tuple]) -> None:
    rows = af.read_activities(EXAMPLES / name, fmt)
    assert mapped(rows) == expected
    for _line, row in rows:
        assert tuple(row) == af.FIELDS
        assert row["source"] == fmt
        assert row["activity_type"] in af.TYPES


@pytest.mark.parametrize(("name", "fmt", "expected"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_format_is_detected_from_the_file(name: str, fmt: str, expected: list[tuple]) -> None:
    assert af.detect_format((EXAMPLES / name).read_bytes()) == fmt
    assert mapped(af.read_activities(EXAMPLES / name)) == expected


def test_samples_cover_every_activity_type() -> None:
    seen = {
        row["activity_type"]
        for name, fmt, _ in SAMPLES
        for _line, row in af.read_activities(EXAMPLES / name, fmt)
    }
    assert seen == set(af.TYPES)


# ---------------------------------------------------------------------------- external ids


@pytest.mark.parametrize(("name", "fmt", "expected"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_rereading_gives_the_same_external_ids(name: str, fmt: str, expected: list) -> None:
    first = [row["external_id"] for _line, row in af.read_activities(EXAMPLES / name, fmt)]
    again = [row["external_id"] for _line, row in af.read_activities(EXAMPLES / name, fmt)]
    assert first == again
    assert len(set(first)) == len(first)  # one id per activity, even for identical rows


def test_ghostfolio_ids_are_kept_and_a_row_without_one_is_hashed() -> None:
    ids = [row["external_id"] for _line, row in af.read_activities(EXAMPLES / "ghostfolio.json")]
    assert ids[:5] == [f"6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a0{i}" for i in range(1, 6)]
    assert re.fullmatch(r"[0-9a-f]{32}-1", ids[5])  # the INTEREST has no "id"


def test_identical_rows_are_numbered_and_the_hash_is_the_documented_one() -> None:
    rows = af.read_activities(EXAMPLES / "foliodb.csv")
    plan = [row["external_id"] for _line, row in rows[-2:]]
    # lines 13 and 14 are the same monthly buy: same hash, occurrences 1 and 2
    digest = hashlib.sha256(
        "\x1f".join(
            [
                "activity_date=2024-10-01",
                "activity_type=BUY",
                "symbol=VTI",
                "quantity=1",
                "unit_price=270",
                "amount=270",
                "fee=0",
                "currency=USD",
                "notes=monthly plan",
                "source=foliodb",
            ]
        ).encode()
    ).hexdigest()[:32]
    assert plan == [f"{digest}-1", f"{digest}-2"]


def test_a_number_written_differently_keeps_its_external_id(tmp_path: Path) -> None:
    header = "activity_date,activity_type,symbol,quantity,unit_price,amount,fee,currency,notes\n"
    one = tmp_path / "one.csv"
    two = tmp_path / "two.csv"
    one.write_text(header + "2024-01-03,BUY,vti,10,235.50,2355.00,1.00,usd,\n")
    two.write_text(header + "2024-01-03,BUY,VTI,10.0,235.5,2355,1,USD,\n")
    assert (
        af.read_activities(one)[0][1]["external_id"] == af.read_activities(two)[0][1]["external_id"]
    )


def test_foliodb_keeps_the_source_and_external_id_of_an_export(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "activity_date,activity_type,symbol,quantity,unit_price,amount,fee,currency,notes,"
        "source,external_id\n"
        "2024-01-03,BUY,NVDA,2,481.68,963.36,1,USD,,ghostfolio,6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a01\n"
        "2024-01-04,BUY,NVDA,2,481.68,963.36,1,USD,,ghostfolio,6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a01\n"
    )
    issues = problems(path)
    # the second row repeats the id of the first
    assert where(issues) == [(3, "external_id")]
    assert "also on line 2" in issues[0].message
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
    [(_line, row)] = af.read_activities(path)
    assert (row["source"], row["external_id"]) == (
        "ghostfolio",
        "6f0a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a01",
    )


# ---------------------------------------------------------------------------- bad rows


def test_foliodb_bad_rows_are_each_named() -> None:
    issues = problems(EXAMPLES / "foliodb_bad.csv")
    assert where(issues) == [
        (2, "activity_date"),
        (3, "activity_type"),
        (4, "quantity"),
        (5, "fee"),
        (6, "quantity"),
        (7, "currency"),
    ]
    assert issues[0].value == "2024-13-01" and "YYYY-MM-DD" in issues[0].expected
    assert "'BOUGHT'" in issues[1].message and "TRANSFER_IN" in issues[1].message
    # a long value is shown by its first 40 characters and its length
    assert "'123456789012345678901234567890abcdefghij'… (46 characters)" in issues[4].message


def test_ghostfolio_bad_activities_are_each_named_with_the_line_of_the_field() -> None:
    issues = problems(EXAMPLES / "ghostfolio_bad.json")
    assert where(issues) == [
        (7, "type"),  # LIABILITY
        (17, "type"),  # ITEM
        (26, "quantity"),  # "5" is a string
        (31, "date"),  # 16.09.2021
        (34, "currency"),  # missing: the line of the activity
        (34, "unitPrice"),  # missing (the file says "unitprice")
        (38, "unitprice"),  # not a field of Ghostfolio's
    ]
    assert "LIABILITY (a debt) has no foliodb activity type" in issues[0].message
    assert "record it as a BUY" in issues[1].message
    assert "did you mean 'unitPrice'?" in issues[6].message


def test_wealthfolio_bad_rows_are_each_named() -> None:
    issues = problems(EXAMPLES / "wealthfolio_bad.csv")
    assert where(issues) == [
        (2, "activityType"),  # CREDIT
        (3, "activityType"),  # UNKNOWN
        (4, "date"),  # 01/15/2024
        (5, "unitPrice"),  # abc
        (6, "currency"),  # US
        (7, "activityType"),  # SPINOFF
        (8, "fxRate"),  # -0.9
    ]
    assert "CREDIT (a refund, rebate or bonus) has no foliodb type" in issues[0].message
    assert issues[5].value == "SPINOFF"


def test_pp_bad_rows_are_each_named() -> None:
    issues = problems(EXAMPLES / "pp_bad.csv")
    assert where(issues) == [
        (2, "Type"),  # Fees Refund
        (3, "Type"),  # Tax Refund
        (4, "Value"),  # 12.3: PP writes two decimals
        (5, "Shares"),  # 1.2.3
        (6, "Type"),  # Spin-off
        (7, "Date"),  # 15.01.2024
        (8, "Exchange Rate"),  # in USD, but no rate and no gross amount
        (9, "Exchange Rate"),  # 0.92.1
    ]
    assert "a fee refund has no foliodb type" in issues[0].message
    assert "the rate from USD to EUR, or the Gross Amount in USD" in issues[6].message


@pytest.mark.parametrize(
    ("fmt", "content", "field"),
    [
        (
            "foliodb",
            "activity_date,activity_type,currency,amount\n2024-01-02,GIFT,USD,5\n",
            "activity_type",
        ),
        (
            "ghostfolio",
            '{"activities": [{"type": "GIFT", "date": "2024-01-02", "currency": "USD",'
            ' "quantity": 1, "unitPrice": 5, "fee": 0, "symbol": "VTI"}]}',
            "type",
        ),
        (
            "wealthfolio",
            "date,activityType,currency,amount\n2024-01-02,GIFT,USD,5\n",
            "activityType",
        ),
        ("pp", "Date,Type,Value,Transaction Currency\n2024-01-02T00:00,Gift,5.00,USD\n", "Type"),
    ],
)
def test_unknown_types_are_refused(tmp_path: Path, fmt: str, content: str, field: str) -> None:
    path = tmp_path / "gift.txt"
    path.write_text(content)
    issues = problems(path, fmt)
    assert where(issues) == [(1 if fmt == "ghostfolio" else 2, field)]
    assert "GIFT" in issues[0].message.upper() and "expected one of" in issues[0].message


def test_one_bad_row_means_no_row_at_all(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "activity_date,activity_type,currency,amount\n2024-01-02,DEPOSIT,USD,5\n"
        "2024-01-03,DEPOSIT,USD,five\n"
    )
    issues = af.Issues()
    rows = list(af.iter_activities(path.read_bytes(), "foliodb", str(path), issues))
    assert issues.total == 1 and len(rows) == 1  # the streaming reader hands over the good row…
    with pytest.raises(ValidationError):  # …but reading a file hands over nothing
        af.read_activities(path)


def test_problems_are_listed_up_to_50_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text(
        "activity_date,activity_type,currency,amount\n"
        + "".join(f"2024-01-{day:02d},DEPOSIT,USD,x{day}\n" for day in range(1, 29)) * 3
    )
    with pytest.raises(ValidationError) as caught:
        af.read_activities(path)
    error = caught.value
    assert error.total == 84 and len(error.issues) == 50
    assert [issue.line for issue in error.issues] == list(range(2, 52))
    assert "… and 34 more" in str(error)


def test_header_problems(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("activity_date,activity_typ,currency,currency\n2024-01-02,DEPOSIT,USD,USD\n")
    issues = problems(path, "foliodb")
    assert where(issues) == [(1, "column 2"), (1, "column 4"), (1, "activity_type")]
    assert "did you mean 'activity_type'?" in issues[0].message


def test_a_rate_read_from_another_format_keeps_the_rows_external_id() -> None:
    """Portfolio Performance's Exchange Rate became fx_rate after such files were imported:
    the digest that identifies a row without an id is the one it had before."""
    rows = af.read_activities(EXAMPLES / "pp_de.csv")
    line, bought = rows[5]
    assert (line, bought["fx_rate"]) == (6, Decimal("0.92"))
    assert bought["external_id"] == af.row_hash({**bought, "fx_rate": None}) + "-1"


def test_pp_numbers_follow_the_rows_locale() -> None:
    assert af.pp_number("1,234.56", ".") == Decimal("1234.56")
    assert af.pp_number("1.234,56", ",") == Decimal("1234.56")
    assert af.pp_number("1'234.56", ".") == Decimal("1234.56")
    assert af.pp_number("-1\u202f234,5", ",") == Decimal("-1234.5")
    assert af.pp_number("12,5", ",") == Decimal("12.5")
    assert af.pp_number("1,2,3", ".") is None
    assert af.pp_number("1.234.5", ".") is None


def test_pp_semicolon_file_with_english_headers(tmp_path: Path) -> None:
    # the Swiss locale: ';' separates, "'" groups, '.' marks decimals
    path = tmp_path / "ch.csv"
    path.write_text(
        "Date;Type;Value;Transaction Currency;Fees;Taxes;Shares;Ticker Symbol\n"
        "2024-01-03T00:00;Buy;-1'001.00;CHF;1.00;;10;NESN.SW\n"
    )
    assert mapped(af.read_activities(path, "pp")) == [
        expected_row(2, "2024-01-03", "BUY", "NESN.SW", "10", "100", "1000", "1", "CHF")
    ]


def test_as_json_is_exact_text() -> None:
    line, row = af.read_activities(EXAMPLES / "pp_de.csv")[1]
    assert af.activity_as_json(line, row) == {
        "line": 3,
        "activity_date": "2024-01-03",
        "activity_type": "BUY",
        "symbol": "EUNL.DE",
        "quantity": "12.5",
        "unit_price": "98.3736",
        "amount": "1229.67",
        "fee": "4.9",
        "currency": "EUR",
        "notes": "Sparplan",
        "source": "pp",
        "external_id": row["external_id"],
        "fx_rate": None,  # Portfolio Performance's Exchange Rate is not mapped
    }


def test_pp_buy_from_the_account_and_the_portfolio_export_is_one_activity(tmp_path: Path) -> None:
    # CSVExporter writes a buy into the account's file with a negative Value (a debit) and into
    # the portfolio's file with a positive one, both with the portfolio transaction's details
    header = "Date,Type,Value,Transaction Currency,Fees,Taxes,Shares,Ticker Symbol,Note\n"
    account = tmp_path / "account.csv"
    portfolio = tmp_path / "portfolio.csv"
    account.write_text(header + "2024-01-03T00:00,Buy,-964.36,USD,1.00,,2,NVDA,\n")
    portfolio.write_text(header + "2024-01-03T00:00,Buy,964.36,USD,1.00,,2,NVDA,\n")
    [(_, from_account)] = af.read_activities(account, "pp")
    [(_, from_portfolio)] = af.read_activities(portfolio, "pp")
    assert from_account == from_portfolio


def test_ghostfolio_lines_follow_the_activities_json_keeps(tmp_path: Path) -> None:
    # a repeated key: json.loads keeps the last "activities", and so do the line numbers
    path = tmp_path / "twice.json"
    path.write_text(
        '{"activities": [],\n "meta": {"version": "3.58.0"},\n "activities": [\n'
        '  {"type": "GIFT", "date": "2024-01-02", "currency": "USD",'
        ' "quantity": 1, "unitPrice": 5, "fee": 0, "symbol": "VTI"}\n ]\n}\n'
    )
    assert where(problems(path)) == [(4, "type")]


def test_a_file_of_no_known_format_is_named(tmp_path: Path) -> None:
    path = tmp_path / "what.csv"
    path.write_text("when,what,how much\n2024-01-02,deposit,5\n")
    with pytest.raises(ValidationError) as caught:
        af.read_activities(path)
    assert str(path) in str(caught.value) and "--format" in str(caught.value)


def test_ghostfolio_malformed_json_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "activities": [\n    {"type": "BUY",}\n  ]\n}\n')
    issues = problems(path, "ghostfolio")
    assert len(issues) == 1 and issues[0].line == 3 and "JSON" in issues[0].message
    path.write_text('{"meta": {}, "activities": {"type": "BUY"}}')
    assert where(problems(path, "ghostfolio")) == [(1, "activities")]


@pytest.mark.parametrize(("name", "fmt", "expected"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_written_as_foliodb_csv_reads_back_as_the_same_activities(
    tmp_path: Path, name: str, fmt: str, expected: list
) -> None:
    rows = [row for _line, row in af.read_activities(EXAMPLES / name, fmt)]
    path = tmp_path / "export.csv"
    with path.open("w", encoding="utf-8", newline="") as stream:
        assert af.write_foliodb_csv(rows, stream) == len(rows)
    again = [row for _line, row in af.read_activities(path)]
    assert again == rows  # every field, source and external id included


def test_a_missing_column_is_named_as_the_format_names_it(tmp_path: Path) -> None:
    path = tmp_path / "pp.csv"
    path.write_text("Date,Type,Transaction Currency\n2024-01-02T00:00,Deposit,USD\n")
    issues = problems(path, "pp")
    assert where(issues) == [(1, "Value")] and "a column 'Value'" in issues[0].message
    path.write_text("date,symbol,currency\n2024-01-02,,USD\n")
    assert where(problems(path, "wealthfolio")) == [(1, "activityType")]


def test_a_type_is_upper_cased_only_when_ascii(tmp_path: Path) -> None:
    path = tmp_path / "long_s.csv"
    path.write_text(
        "activity_date,activity_type,symbol,quantity,unit_price,currency\n"
        "2024-01-03,\u017fell,VTI,1,250,USD\n"
        "2024-01-03,sell,VTI,1,250,USD\n",
        encoding="utf-8",
    )
    assert where(problems(path)) == [(2, "activity_type")]


def test_pp_rate_on_an_account_in_another_currency_than_the_base(tmp_path) -> None:
    """Portfolio Performance's Exchange Rate is units of the Transaction Currency per unit of
    the security's; on a USD account in a EUR portfolio foliodb's fx_rate is EUR per USD: the
    inverse when the security is in EUR, else not given (the import then asks for it)."""
    path = tmp_path / "pp_usd_account.csv"
    path.write_text(
        "Date,Type,Value,Transaction Currency,Gross Amount,Currency Gross Amount,Exchange Rate,"
        "Fees,Taxes,Shares,ISIN,WKN,Ticker Symbol,Security Name,Note\n"
        "2024-10-01T00:00,Buy,-1080.00,USD,1000.00,EUR,1.08,,,5,DE0007164600,716460,SAP.DE,SAP,\n"
        "2024-10-02T00:00,Buy,-1270.00,USD,1000.00,GBP,1.27,,,10,GB00BH4HKS39,,VOD.L,Vodafone,\n"
    )
    in_usd = [row["fx_rate"] for _line, row in af.read_activities(path, "pp")]
    assert in_usd == [Decimal("1.08"), Decimal("1.27")]  # the base taken to be USD: as stated
    in_eur = [row["fx_rate"] for _line, row in af.read_activities(path, "pp", "EUR")]
    assert in_eur == [Decimal(1) / Decimal("1.08"), None]
