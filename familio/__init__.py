"""Familio, the social layer. Its domain: follows and endorsements (``social``), reputation
worked out from them and from ratings (``reputation``, ``standing``), social profiles
(``profile``). Its web app on that domain: the REST API (``api``), the pages (``pages``,
``charts``, templates and static files), who may read (``access``, ``headers``) and the app
itself (``app``)."""
