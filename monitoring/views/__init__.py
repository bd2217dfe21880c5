"""The pages, one module per topic. Views are thin: they read through ``monitoring.selectors`` and change
data through the named services (``monitoring.excursion_actions``, ``vendors.operations``)."""
