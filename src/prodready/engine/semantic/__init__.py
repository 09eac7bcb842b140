"""The project-wide semantic model: which file is which module, what each function does
(:mod:`.summary`, collected during the one walk of each file by :mod:`.collect` and cached with
its facts), the call graph across modules and the transaction scope each function runs in
(:mod:`.model`).

Kept free of imports: :mod:`prodready.engine.module_record` imports :mod:`.summary`, and
:mod:`.model` imports the module records.
"""
