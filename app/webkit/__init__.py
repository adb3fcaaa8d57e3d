"""The web kit: what every blueprint of the web adapter (and the adapters' admin pages in
``app/interfaces``) uses, written once.

- ``app.webkit.views``: the role guard, the acting user, the reader's language, safe
  ``next`` links, and an operation's refusal shown on the page;
- ``app.webkit.forms``: the base form (WTForms' own messages in Thai), choice builders,
  the one reason form;
- ``app.webkit.fields``: dates in the Buddhist Era and ``HH:MM`` times.
"""
