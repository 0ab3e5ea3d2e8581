"""The message catalogue: the Chinese translation of every sentence Planflow shows.

`zh_CN/LC_MESSAGES/planflow.po` is written by people and compiled to `planflow.mo`, which the
standard library's gettext reads at run time (`engine.core.i18n`); both are committed and shipped
as package data. Keeping them is `python -m engine.locale extract|update|merge|compile|check`
(`engine.locale.maintain`, which needs Babel, a development dependency only: nothing that runs in
a deployment imports it).
"""
