"""A minimal, offline page listing the API's operations from its OpenAPI document."""

from __future__ import annotations

from flask import Blueprint

blp = Blueprint("api_docs_page", __name__)

PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Clausier — API</title>
<style>body{font:15px system-ui;margin:2rem}code{background:#eee;padding:0 .3em}
td{padding:.2em .6em;vertical-align:top}</style></head>
<body><h1>API Clausier v1</h1>
<p>Document OpenAPI 3 : <a href="/api/v1/openapi.json"><code>/api/v1/openapi.json</code></a>.
Authentification : <code>Authorization: Bearer clz_…</code> (jeton personnel), HTTP Basic,
ou session web. Compatibilité Camunda 7 : <code>/engine-rest</code>.</p>
<table id="ops"><thead><tr><th>Méthode</th><th>Chemin</th><th>Résumé</th></tr></thead>
<tbody></tbody></table>
<script>
fetch("/api/v1/openapi.json").then(r => r.json()).then(doc => {
  const body = document.querySelector("#ops tbody");
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (typeof op !== "object" || !op.responses) continue;
      const row = body.insertRow();
      row.insertCell().textContent = method.toUpperCase();
      row.insertCell().textContent = path;
      row.insertCell().textContent = op.summary || "";
    }
  }
});
</script></body></html>"""


@blp.get("/api/v1/docs")
def page():
    """Page de documentation de l'API (sans CDN)."""
    return PAGE
