"""The one error of the query language: what is wrong, and where in the query."""

from __future__ import annotations

from otel_logging.dashboard.query import QueryError


class QuerySyntaxError(QueryError):
    """A query that cannot be read or applied; ``position`` is the 0-based offset of the fault in ``query``.

    ``str()`` gives the message, the query and a caret under the fault::

        expected a value after 'service:' (column 9)
          service:
                  ^
    """

    def __init__(self, message: str, position: int, query: str = "") -> None:
        self.message = message
        self.position = max(0, position)
        self.query = query
        super().__init__(self._text())

    @property
    def column(self) -> int:
        """1-based column of the fault (as shown to the user)."""
        return self.position + 1

    def caret(self) -> str:
        """Two lines: the query (its first line if several) and a caret under the fault."""
        line_start = self.query.rfind("\n", 0, self.position) + 1
        line_end = self.query.find("\n", self.position)
        line = self.query[line_start : None if line_end < 0 else line_end]
        return f"{line}\n{' ' * (self.position - line_start)}^"

    def _text(self) -> str:
        head = f"{self.message} (column {self.column})"
        if not self.query:
            return head
        return head + "\n" + "\n".join("  " + line for line in self.caret().splitlines())

    def with_query(self, query: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.message, self.position, query)
