"""Dependency validation: manifests, imports versus declarations, existence and legitimacy on the
package index, known vulnerabilities.

Layers inside the package:

- ``model``: the data (declarations, locked versions, import uses, index facts, advisories);
- ``manifests``, ``imports``, ``index``, ``advisories``: one source of facts each;
- ``inventory``: joins them into one view per dependency, computed once per scan;
- ``declared``, ``existence``, ``vulnerable``: the project rules that report on the inventory
  (they run in ``prodready scan`` like every project rule; ``prodready deps`` runs them with the
  package index online and lists the inventory).
"""
