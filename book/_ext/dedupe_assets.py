"""Drop duplicate <script> entries from every page.

Some extensions bundled with Jupyter Book 1.x (sphinx-thebe, sphinx-togglebutton) register their
inline scripts on an event that fires more than once per build; the repeated ``const THEBE_JS_URL``
declaration is then a SyntaxError in the reader's browser console.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        # An inline script is registered once with filename None and once with "": same script.
        key = (getattr(js, "filename", None) or "", repr(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
