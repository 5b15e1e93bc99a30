"""Where something came from: a source location shared by errors, the language, prompts and layouts.

It sits at the bottom of the package (it imports nothing of compose), so that the error
catalogue can cite positions without knowing the scene model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """Where a statement came from: a program's file, line and column, or a prompt's words.

    Lines and columns are 1-based; ``start`` and ``end`` are character offsets into the source.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str | None = None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    start: int | None = None
    end: int | None = None
    text: str | None = None

    def describe(self) -> str:
        """``file:line:col`` for programs, ``prompt 'words'`` for prompts.

        >>> Span(file="a.scene", line=3, column=5).describe()
        'a.scene:3:5'
        >>> Span(text="left of", start=10, end=17).describe()
        "prompt words 'left of' (characters 10..17)"
        """
        if self.line is not None:
            return f"{self.file or '<program>'}:{self.line}:{self.column or 1}"
        if self.text is not None:
            return f"prompt words '{self.text}' (characters {self.start}..{self.end})"
        return self.file or "<unknown>"
