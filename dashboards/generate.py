import json
DS = {"type": "prometheus", "uid": "${datasource}"}
panels = []
y = 0
pid = 1
def nid():
    global pid
    pid += 1
    return pid
def row(title):
    global y
    panels.append({"type": "row", "title": title, "id": nid(), "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1
def ts(title, targets, x, w=12, h=8, unit="short", desc="", stack=False):
    p = {"type": "timeseries", "title": title, "id": nid(), "datasource": DS,
         "description": desc,
         "gridPos": {"h": h, "w": w, "x": x, "y": y},
         "fieldConfig": {"defaults": {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                                              "stacking": {"mode": "normal" if stack else "none"}}},
                         "overrides": []},
         "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
                     "tooltip": {"mode": "multi"}},
         "targets": [{"datasource": DS, "expr": E(e), "legendFormat": l, "refId": chr(65 + i)} for i, (e, l) in enumerate(targets)]}
    panels.append(p)
def stat(title, expr, x, w=6, h=4, unit="short", desc="", thresholds=None):
    p = {"type": "stat", "title": title, "id": nid(), "datasource": DS, "description": desc,
         "gridPos": {"h": h, "w": w, "x": x, "y": y},
         "fieldConfig": {"defaults": {"unit": unit, "thresholds": thresholds or {"mode": "absolute", "steps": [{"color": "green", "value": None}]}}, "overrides": []},
         "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value", "graphMode": "area"},
         "targets": [{"datasource": DS, "expr": E(expr), "refId": "A", "instant": False}]}
    panels.append(p)
def adv(h):
    global y
    y += h

S = 'job=~"$job"'
def E(x):
    return x.replace('{J,', '{' + S + ',').replace('{J}', '{' + S + '}')

row("Trafic")
ts("Requêtes par seconde, par classe de route", [('sum by (route) (rate(guichet_http_requests_total{J}[$__rate_interval]))', "{{route}}")], 0, unit="reqps")
ts("Réponses par statut", [('sum by (status) (rate(guichet_http_requests_total{J}[$__rate_interval]))', "{{status}}")], 12, unit="reqps")
adv(8)
ts("Latence des requêtes (p50, p95, p99), toutes routes", [
    ('histogram_quantile(0.5, sum by (le) (rate(guichet_http_request_duration_seconds_bucket{J}[$__rate_interval])))', "p50"),
    ('histogram_quantile(0.95, sum by (le) (rate(guichet_http_request_duration_seconds_bucket{J}[$__rate_interval])))', "p95"),
    ('histogram_quantile(0.99, sum by (le) (rate(guichet_http_request_duration_seconds_bucket{J}[$__rate_interval])))', "p99")], 0, unit="s")
ts("Latence p95 par classe de route", [('histogram_quantile(0.95, sum by (le, route) (rate(guichet_http_request_duration_seconds_bucket{J}[$__rate_interval])))', "{{route}}")], 12, unit="s")
adv(8)
ts("Latence de l'application (p50, p95)", [
    ('histogram_quantile(0.5, sum by (le) (rate(guichet_upstream_response_duration_seconds_bucket{J}[$__rate_interval])))', "p50"),
    ('histogram_quantile(0.95, sum by (le) (rate(guichet_upstream_response_duration_seconds_bucket{J}[$__rate_interval])))', "p95")], 0, unit="s",
   desc="Temps entre l'envoi d'une requête à l'application et l'en-tête de sa réponse.")
ts("Erreurs vers l'application, par type", [('sum by (kind) (rate(guichet_upstream_errors_total{J}[$__rate_interval]))', "{{kind}}")], 12, unit="reqps")
adv(8)

row("Connexions")
ts("Connexions par fournisseur et résultat (par minute)", [('sum by (provider, outcome) (increase(guichet_logins_total{J}[1m]))', "{{provider}} {{outcome}}")], 0)
ts("Échecs de connexion par raison (par minute)", [('sum by (provider, reason) (increase(guichet_logins_total{J,outcome="failure"}[1m]))', "{{provider}} {{reason}}")], 12)
adv(8)
ts("Connexions commencées et réussies, par fournisseur (par minute)", [
    ('sum by (provider) (increase(guichet_logins_started_total{J}[1m]))', "{{provider}} commencées"),
    ('sum by (provider) (increase(guichet_logins_total{J,outcome="success"}[1m]))', "{{provider}} réussies")], 0)
ts("Durée des appels aux fournisseurs (p95)", [('histogram_quantile(0.95, sum by (le, provider, call) (rate(guichet_provider_request_duration_seconds_bucket{J}[$__rate_interval])))', "{{provider}} {{call}}")], 12, unit="s",
   desc="Appels token et userinfo pendant une connexion : un fournisseur lent fait échouer les connexions (jetons de 60 s).")
adv(8)
ts("Montées en niveau (step-up)", [('sum by (level, outcome) (increase(guichet_step_ups_total{J}[1m]))', "{{level}} {{outcome}}")], 0, w=8)
ts("Déconnexions et sessions expirées (par minute)", [
    ('sum by (kind) (increase(guichet_logouts_total{J}[1m]))', "déconnexion {{kind}}"),
    ('sum by (reason) (increase(guichet_sessions_expired_total{J}[1m]))', "expirée {{reason}}")], 8, w=8)
ts("Sessions actives (magasin mémoire)", [('sum(guichet_active_sessions{J})', "sessions")], 16, w=8)
adv(8)

row("Bilan mensuel (FranceConnect+, annexe 4.2)")
table = {
    "type": "table", "id": nid(), "datasource": DS,
    "title": "Authentifications par fournisseur, fournisseur d'identité et niveau eIDAS sur la période",
    "description": "Choisissez « Ce mois-ci » ou « Le mois dernier » dans le sélecteur de période : les chiffres sont ceux de la période affichée ($__range). "
                   "Réussites et échecs par fournisseur (provider), fournisseur d'identité (idp, quand le fournisseur le transmet ; « unknown » sinon, en particulier pour les échecs, avant que l'identité soit connue) et niveau eIDAS. "
                   "À rapprocher du rapport mensuel de FranceConnect+.",
    "gridPos": {"h": 10, "w": 24, "x": 0, "y": y},
    "targets": [
        {"datasource": DS, "refId": "A", "instant": True, "format": "table",
         "expr": E('sum by (provider, idp, level) (increase(guichet_logins_total{J,outcome="success"}[$__range]))')},
        {"datasource": DS, "refId": "B", "instant": True, "format": "table",
         "expr": E('sum by (provider, idp, level) (increase(guichet_logins_total{J,outcome="failure"}[$__range]))')},
    ],
    "transformations": [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": {"Time": True},
                                        "indexByName": {"provider": 0, "idp": 1, "level": 2, "Value #A": 3, "Value #B": 4},
                                        "renameByName": {"provider": "Fournisseur", "idp": "Fournisseur d'identité", "level": "Niveau",
                                                         "Value #A": "Réussites", "Value #B": "Échecs"}}},
    ],
    "fieldConfig": {"defaults": {"unit": "short", "decimals": 0}, "overrides": []},
    "options": {"showHeader": True, "sortBy": [{"displayName": "Fournisseur", "desc": False}]},
}
panels.append(table)
adv(10)
table2 = {
    "type": "table", "id": nid(), "datasource": DS,
    "title": "Échecs par raison, fournisseur et niveau sur la période",
    "description": "Raisons : access_denied (annulé par l'usager ou refusé par le fournisseur d'identité / le RNIPP), identity_not_active, provider_error_*, id_token_*, state_unknown (connexion expirée)...",
    "gridPos": {"h": 10, "w": 24, "x": 0, "y": y},
    "targets": [{"datasource": DS, "refId": "A", "instant": True, "format": "table",
                 "expr": E('sum by (provider, level, reason) (increase(guichet_logins_total{J,outcome="failure"}[$__range])) > 0')}],
    "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True},
                                                          "renameByName": {"provider": "Fournisseur", "level": "Niveau", "reason": "Raison", "Value": "Échecs"}}}],
    "fieldConfig": {"defaults": {"unit": "short", "decimals": 0}, "overrides": []},
    "options": {"showHeader": True, "sortBy": [{"displayName": "Échecs", "desc": True}]},
}
panels.append(table2)
adv(10)

row("Sécurité et dépendances")
ts("Requêtes ralenties ou refusées (limitation)", [('sum by (kind, action) (increase(guichet_throttled_requests_total{J}[1m]))', "{{kind}} {{action}}")], 0, w=8)
ts("Adresses bloquées (par minute) et suivies", [
    ('sum by (kind) (increase(guichet_throttle_blocks_total{J}[1m]))', "bloquées {{kind}}"),
    ('sum(guichet_throttle_clients{J})', "suivies")], 8, w=8)
ts("Téléchargements JWKS par fournisseur et résultat", [('sum by (provider, result) (increase(guichet_jwks_refreshes_total{J}[5m]))', "{{provider}} {{result}}")], 16, w=8)
adv(8)
red = {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}
stat("Fournisseurs prêts", 'sum(guichet_providers_ready{J})', 0)
stat("Erreurs du magasin de sessions (période)", 'sum(increase(guichet_session_store_errors_total{J}[$__range]))', 6, thresholds=red)
stat("Lignes du journal de preuve perdues (période)",
     '(sum(increase(guichet_audit_write_errors_total{J}[$__range])) or vector(0))'
     ' + (sum(increase(guichet_audit_dropped_total{J}[$__range])) or vector(0))', 12, thresholds=red,
     desc="Doit rester à 0 : une ligne non écrite (erreur d'écriture, ou file d'attente restée pleine) est une preuve perdue.")
stat("Versions en service", 'count by (version) (guichet_build_info{J})', 18)
adv(4)

dash = {
    "title": "guichet",
    "uid": "guichet-overview",
    "description": "guichet : trafic, connexions par fournisseur, fournisseur d'identité et niveau eIDAS, bilan mensuel, limitation, dépendances.",
    "tags": ["guichet", "franceconnect"],
    "timezone": "browser",
    "editable": True,
    "graphTooltip": 1,
    "schemaVersion": 39,
    "version": 1,
    "refresh": "30s",
    "time": {"from": "now/M", "to": "now"},
    "timepicker": {"refresh_intervals": ["30s", "1m", "5m", "15m"]},
    "templating": {"list": [
        {"name": "datasource", "label": "Source", "type": "datasource", "query": "prometheus", "current": {}, "hide": 0},
        {"name": "job", "label": "Job", "type": "query", "datasource": DS, "query": "label_values(guichet_build_info, job)",
         "refresh": 2, "includeAll": True, "allValue": ".*", "multi": True, "current": {}, "hide": 0},
    ]},
    "annotations": {"list": []},
    "panels": panels,
}
print(json.dumps(dash, ensure_ascii=False, indent=2))
