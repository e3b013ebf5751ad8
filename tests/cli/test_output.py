"""Tables as wide as the console they are printed on (rich's console with a set width)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from tests.cli.test_options_cli import LONG


@pytest.mark.parametrize("width", [80, 100, 160])
def test_a_table_fits_a_console_of_its_width(width, capsys):
    from duban.commands.output import Column, print_table

    columns = [Column("编号", justify="right"), Column("事项"), Column("来源", 120),
               Column("状态"), Column("跟踪问效", 140), Column("下一步", 100)]
    rows = [[str(n), LONG, "领导批示件", "办理中", "未办结: 查进度", "基础教育科承办人"]
            for n in range(3)]
    print_table(columns, rows, title="督办台账", width=width)
    lines = capsys.readouterr().out.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    shown = "\n".join(lines)
    assert "传染病" in shown.replace("\n", "").replace("│", "").replace(" ", "")
    assert ("下一步" in shown) == (width >= 100) and ("跟踪问效" in shown) == (width >= 140)
