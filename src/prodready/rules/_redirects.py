"""Rule codes that moved: each old code and the code of the rule that answers to it now.

A rule is renumbered when it moves to another category; its old code keeps working wherever a
user can write one -- ``--select``/``--ignore``, configuration files, suppression comments,
baselines, ``prodready explain`` -- and the command line warns once per old code it is given
(``prodready.engine.registry``). Entries are never removed, and an old code is never given to a
new rule: configurations and baselines written years ago must keep their meaning.
"""

from __future__ import annotations

REDIRECTS: dict[str, str] = {
    # Independent reviewers file blocking calls in async handlers, N+1 queries and unbounded
    # queries under performance (two blind corpora, 16 services; issue 13 lists them there).
    "CON001": "PRF016",  # blocking-call-in-async
    "DAT001": "PRF017",  # query-in-loop
    "DAT002": "PRF018",  # unbounded-query-in-endpoint
    "DAT005": "PRF019",  # lazy-relationship-in-loop: the same N+1, through a lazy relation
    # Debug mode switched on in code: configuration for 8 of the 9 blind labels of it (three
    # blind corpora, 24 services); one called it security.
    "SEC010": "CFG009",  # debug-mode-enabled
}
