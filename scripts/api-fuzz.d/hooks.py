"""Schemathesis hooks for Kiln's OpenAPI document (loaded by scripts/api-fuzz).

JSON Schema cannot state one of the service's rules, so the generator is taught them here
instead of the document lying about them:

- `format: isbn` is an ISBN-10 or ISBN-13 whose check digit is right (hyphens allowed). Any
  other string is refused with 422, as the document says; valid ones come from this strategy.
- `GET /books`: a `cursor` is valid only if the service gave it (for the same `sort`, and
  without `offset`). No schema can say that, so generated listings carry no cursor; the
  Rust tests (`app/tests/library.rs`) cover cursors and their 422s.
"""

import schemathesis
from hypothesis import strategies as st


def _isbn13(body12: str) -> str:
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def _isbn10(body9: str) -> str:
    total = sum(int(d) * (10 - i) for i, d in enumerate(body9))
    check = (11 - total % 11) % 11
    return body9 + ("X" if check == 10 else str(check))


_digits = lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)  # noqa: E731
_isbns = st.one_of(
    st.builds(lambda prefix, rest: _isbn13(prefix + rest), st.sampled_from(["978", "979"]), _digits(9)),
    st.builds(_isbn10, _digits(9)),
    st.builds(lambda rest: "-".join([(s := _isbn13("978" + rest))[:3], s[3], s[4:9], s[9:12], s[12]]), _digits(9)),
)
schemathesis.openapi.format("isbn", _isbns)


@schemathesis.hook
def map_query(ctx, query):
    operation = ctx.operation
    if query and operation is not None and operation.path == "/books" and operation.method.upper() == "GET":
        query.pop("cursor", None)
    return query
