"""Whether the row-level rules of a table version were already checked by the commits that wrote
its rows, so that a gate can judge them without running them again.

The gold jobs run their contract's row filter before they commit (rows.py) and say so in the
commit's metadata (`row_rules_checked`: the rules' id). A version's rows are vouched for when
every data file of the version was added by such a commit under today's rules id, walking the
log back from the version:

- a checked commit vouches for the files it added; when it kept rows of files it replaced
  (`row_rules_carried` not "0"), those files must be vouched for in turn;
- a commit that only rearranged rows (every add `dataChange: false`, some file removed:
  compaction) passes the question on to the files it removed;
- any other commit adding a needed file (a plain append, an erasure's rewrite, a job under other
  rules), or a commit file that log cleanup removed, means "not vouched": the gate measures.
"""

from __future__ import annotations

from typing import Any

from ..lake.catalog import TableSpec
from ..lake.commit_info import our_keys
from ..lake.store import Lake, file_name
from .rows import CARRIED_KEY, CHECKED_KEY

# Beyond this many commits the gate measures instead of reading further back.
MAX_COMMITS = 1000


def checked_by_commits(
    lake: Lake, spec: TableSpec, version: int, rules_id: str, max_commits: int = MAX_COMMITS
) -> list[int] | None:
    """The versions of the commits whose row checks cover every row of `spec` at `version`
    under `rules_id`, newest first; None when some row is not covered (or the log does not say).
    An empty version is covered by no commit: []."""
    names = lake.file_names(spec, version)
    if names is None:
        return None
    needed = names
    covering: list[int] = []
    current = version
    while needed:
        if current < 0 or version - current >= max_commits:
            return None
        actions = lake.commit_actions(spec, current)
        if actions is None:
            return None
        added = {file_name(a["add"]["path"]): a["add"] for a in actions if "add" in a}
        found = needed & added.keys()
        if found:
            info = our_keys(_commit_info(actions))
            removed = {file_name(a["remove"]["path"]) for a in actions if "remove" in a}
            if info.get(CHECKED_KEY) == rules_id:
                passed_on = removed if info.get(CARRIED_KEY) != "0" else set()
            elif (
                removed
                and not removed & found
                and not any(added[name].get("dataChange", True) for name in found)
            ):
                # a rearrangement: its rows came from the files it removed (a commit that
                # re-adds a live file to update its statistics removes nothing: not this)
                passed_on = removed
            else:
                return None
            needed = (needed - found) | passed_on
            covering.append(current)
        current -= 1
    return covering


def _commit_info(actions: list[dict[str, Any]]) -> dict[str, Any]:
    return next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
