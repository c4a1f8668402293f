"""The dbt unit tests of the arithmetic macros (dbt_project/models/macro_checks), run by the
suite so that `make test` runs them: daily return, risk-piece combination, chart thinning.

The expected rows are worked by hand in the YAML; dbt runs each macro on the given rows in the
test's own database and compares.
"""

from __future__ import annotations

import re

from foliodb import models


def test_the_arithmetic_macros_pass_their_dbt_unit_tests(db_url: str) -> None:
    res = models.run_dbt(["test", "--select", "test_type:unit"], db_url)  # raises on a failure
    output = res.stdout + res.stderr
    ran = re.search(r"(\d+) unit tests?", output)
    assert ran is not None, output[-2000:]
    assert int(ran.group(1)) >= 3
    assert "ERROR=0" in output and "FAIL" not in output.replace("FAIL=0", "")
