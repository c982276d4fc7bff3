"""The dashboard's tabs: small widgets, one per module, that format what
:mod:`gatewatch_dashboard.model` derived.

Each tab holds the app's ``readings`` (bound with ``data_bind``) and redraws when they change;
none of them fetches anything.
"""
