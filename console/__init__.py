"""The web console (`dualrec serve`): audit teams, dispute handlers and compliance
officers work on the audit store in a browser.

Server-rendered pages (FastAPI + Jinja2, a little plain JavaScript, no build step, no
CDN) over the same store and the same storage functions as the command line. Every
page and stream is behind a login; roles and branch scope are applied in each query
(console/roles.py), not by hiding buttons.

- accounts.py: users, argon2 passwords, server-side sessions, login throttling
- roles.py: the permission matrix and branch scope
- app.py: the application, its security headers and error pages
- routes_*.py: the pages, one module per area
- media.py: streaming vault media with HTTP Range
"""
