"""The maps, composed from small Folium elements: the overview (counties by their status against
a deadline rule) and a layer map (its assets by stage and deadline status).

No basemap by default: the county boundaries are the base, since an intranet has no tile server
to reach. ``Look.basemap_url`` adds an XYZ layer under them (REBUILD_BASEMAP_URL).
"""

import calendar
import datetime as dt
import html
from dataclasses import dataclass
from urllib.parse import urlencode

import folium
from folium.plugins import Fullscreen, Search
from folium.utilities import JsCode, get_bounds

from gis import progress as engine
from gis.access import Principal
from gis.asset_status import ASSET_STATUS_COLOUR, ASSET_STATUSES
from gis.errors import InvalidInput, TooLarge
from gis.loaders import deadline_rules
from gis.maps import data, style, text
from gis.maps.assets import (
    FULLSCREEN_CSS,
    FULLSCREEN_JS,
    LEAFLET_CSS,
    LEAFLET_JS,
    SEARCH_CSS,
    SEARCH_JS,
    use_local,
)
from gis.maps.elements import (
    AssetTiles,
    Attribution,
    Choice,
    Legend,
    LegendEntry,
    MapConfig,
    Panel,
    PanelContent,
    RemoteCodeSearch,
)
from gis.vocab import LAYERS, STAGES

XINXIANG = (35.3, 113.9)  # lat, lon: where a map opens before it fits its contents
MIN_ZOOM, MAX_ZOOM = 6, 18  # no tile layer gives Leaflet a zoom range: name one
TILE_MIN_ZOOM = 6
FIT_PADDING_PX = (12, 12)
FIT_MAX_ZOOM = 15  # a few assets close together: a village, not a single roof


@dataclass(frozen=True)
class Look:
    """How a map is presented: language, basemap, and whether a server stands behind it
    (``served``: filters, links, vector tiles and history links; otherwise a standalone file)."""

    lang: str = "zh"
    basemap_url: str | None = None
    basemap_attribution: str | None = None
    served: bool = True


def month_steps(as_of: dt.date, *, today: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The same day a month before and after ``as_of`` (the month's last day when shorter),
    kept between the disaster and today; None where no step is left."""

    def shift(months: int) -> dt.date:
        index = as_of.year * 12 + as_of.month - 1 + months
        year, month = divmod(index, 12)
        last = calendar.monthrange(year, month + 1)[1]
        return dt.date(year, month + 1, min(as_of.day, last))

    before = max(shift(-1), engine.FIRST_DAY) if as_of > engine.FIRST_DAY else None
    after = min(shift(1), today) if as_of < today else None
    return before, after


def _base_map(title: str, look: Look) -> folium.Map:
    m = folium.Map(
        location=XINXIANG,
        tiles=None,
        zoom_start=9,
        control_scale=True,
        minZoom=MIN_ZOOM,
        maxZoom=MAX_ZOOM,
        zoomSnap=0.5,
        attributionControl=False,  # its default prefix links to Leaflet's website
    )
    use_local(m, LEAFLET_JS, LEAFLET_CSS)
    m.get_root().title = html.escape(title)
    if look.basemap_url:
        folium.TileLayer(
            look.basemap_url,
            attr=look.basemap_attribution or "basemap",
            name="底图" if look.lang == "zh" else "Basemap",
            max_zoom=MAX_ZOOM,
            control=False,
        ).add_to(m)
        Attribution(look.basemap_attribution or "").add_to(m)
    return m


def _config(look: Look, *, counties: dict[str, dict[str, str]], layer: str | None) -> dict:
    words = text.TEXT[look.lang]
    return {
        "lang": look.lang,
        "text": words,
        "styles": style.STYLE_TABLE,
        "statusColour": ASSET_STATUS_COLOUR,
        "statusLabel": text.asset_status_labels(look.lang),
        "stageLabel": text.stage_labels(look.lang),
        "kindLabel": text.kind_labels(layer, look.lang) if layer else {},
        "countyLabel": {code: names[look.lang] for code, names in counties.items()},
        "historyUrl": "/assets/{id}/history" if look.served else None,
    }


def _finish(m: folium.Map, bounds: list[list[float | None]] | None) -> folium.Map:
    use_local(Fullscreen(position="topleft"), FULLSCREEN_JS, FULLSCREEN_CSS).add_to(m)
    if bounds and None not in bounds[0]:
        m.fit_bounds(bounds, padding=FIT_PADDING_PX, max_zoom=FIT_MAX_ZOOM)
    folium.LayerControl(collapsed=False, position="bottomleft").add_to(m)  # last, as in Folium
    return m


def _other(lang: str) -> str | None:
    """The ``lang`` query value of the switch to the other language (Chinese is the default)."""
    return None if lang == "en" else "en"


def _href(path: str, **query: str | None) -> str:
    kept = {k: v for k, v in query.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path


def _months(path: str, as_of: dt.date, words: dict[str, str], **query: str | None) -> list:
    before, after = month_steps(as_of, today=engine.china_today())
    return [
        (words["prev_month"], _href(path, **query, as_of=str(before)) if before else None),
        (words["next_month"], _href(path, **query, as_of=str(after)) if after else None),
    ]


def _county_choice(names: dict, principal: Principal, selected: str | None, lang: str) -> Choice:
    words = text.TEXT[lang]
    readable = [code for code in names if principal.reads(code)]
    options = [("", words["all"])] if len(readable) > 1 else []
    options += [(code, names[code][lang]) for code in readable]
    return Choice("county", words["county"], options, selected)


def overview_map(
    session,
    *,
    principal: Principal,
    as_of: dt.date,
    layer: str | None = None,
    rule: str | None = None,
    look: Look = Look(),
) -> folium.Map:
    """The counties the principal may read, filled by their status against ``rule`` (default:
    the layer's earliest rule) as of ``as_of``; a tooltip with each county's figures. Without
    a layer: the rule's, or houses."""
    every_rule = deadline_rules(session)
    if layer is None:
        layer = next((r.layer for r in every_rule if r.rule == rule), "houses")
    data.check_layer(layer)
    lang, words = look.lang, text.TEXT[look.lang]
    rules = [r for r in every_rule if r.layer == layer]
    chosen = next((r for r in rules if r.rule == (rule or rules[0].rule)), None) if rules else None
    if chosen is None:
        raise InvalidInput(
            f"时间节点 {rule!r} 不属于图层 {layer}，可选：{'、'.join(r.rule for r in rules)}",
            f"Rule {rule!r} is not one of layer {layer}'s: {', '.join(r.rule for r in rules)}.",
            field="rule",
        )
    rows = engine.progress(session, principal=principal, as_of=as_of, layer=layer)
    by_county = {r.county_adcode: r for r in rows if r.rule == chosen.rule and r.county_adcode}
    statuses = text.county_status_labels(lang)
    counties = data.county_boundaries(session, principal=principal)
    for feature in counties["features"]:
        p = feature["properties"]
        row = by_county.get(p["adcode"])
        p["name"] = p["name_zh"] if lang == "zh" else p["name_en"]
        p["status"] = row.status if row else None
        p["status_label"] = statuses[row.status] if row else words["no_assets"]
        p["figures"] = (
            f"{row.reached} / {row.total}（{row.percent:.1f}%）" if row else "—"
        )  # fmt: skip
        p["days_left"] = str(row.days_left) if row else "—"
        p["rates"] = f"{row.required_per_day or 0:.2f} / {row.recent_per_day:.2f}" if row else "—"
        p["projected"] = str(row.projected_finish or "—") if row else "—"

    label = chosen.label_zh if lang == "zh" else chosen.label_en
    layer_name = LAYERS[layer].zh if lang == "zh" else LAYERS[layer].en
    title = f"{words['overview']} · {layer_name}"
    m = _base_map(title, look)
    MapConfig(_config(look, counties=data.county_names(session), layer=layer)).add_to(m)
    shapes = folium.GeoJson(
        counties,
        name=words["counties"],
        style_function=style.county_style,
        highlight_function=lambda f: {"weight": 3},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "status_label", "figures", "days_left", "rates", "projected"],
            aliases=[
                words["county"],
                words["status"],
                f"{words['reached']} / {words['total']}",
                words["days_left"],
                f"{words['required']} / {words['recent']}",
                words["projected"],
            ],
            sticky=True,
        ),
    ).add_to(m)
    entries = [
        LegendEntry(statuses[s], style.COUNTY_OUTLINE, engine.STATUS_COLOUR[s], area=True)
        for s in engine.STATUS_COLOUR
    ]
    entries.append(
        LegendEntry(words["no_assets"], style.COUNTY_OUTLINE, style.NO_ASSETS_COLOUR, area=True)
    )
    Legend([(words["legend_county"], entries)]).add_to(m)
    Panel(_overview_panel(look, layer, chosen, rules, as_of, label)).add_to(m)
    return _finish(m, shapes.get_bounds())


def _overview_panel(look: Look, layer: str, chosen, rules, as_of: dt.date, label: str):
    lang, words = look.lang, text.TEXT[look.lang]
    subtitle = f"{label}（{words['due_on']} {chosen.due_on}）"
    if not look.served:
        return PanelContent(words["overview"], subtitle, str(as_of), words["as_of"])
    layers = [(key, t.zh if lang == "zh" else t.en) for key, t in LAYERS.items()]
    rule_options = [(r.rule, r.label_zh if lang == "zh" else r.label_en) for r in rules]
    lang_query = "en" if lang == "en" else None
    return PanelContent(
        title=words["overview"],
        subtitle=subtitle,
        as_of=str(as_of),
        as_of_label=words["as_of"],
        choices=[
            Choice("layer", words["layer"], layers, layer),
            Choice("rule", words["rule"], rule_options, chosen.rule),
        ],
        apply_label=words["apply"],
        months=_months(
            "/maps/overview", as_of, words, layer=layer, rule=chosen.rule, lang=lang_query
        ),
        links=[
            (words["home"], _href("/", lang=lang_query)),
            (
                LAYERS[layer].zh if lang == "zh" else LAYERS[layer].en,
                _href(f"/maps/{layer}", as_of=str(as_of), lang=lang_query),
            ),
            (
                words["switch"],
                _href(
                    "/maps/overview",
                    layer=layer,
                    rule=chosen.rule,
                    as_of=str(as_of),
                    lang=_other(lang),
                ),
            ),
        ],
        hidden=[("lang", "en")] if lang == "en" else [],
    )


def layer_map(
    session,
    *,
    principal: Principal,
    flt: data.AssetFilter,
    look: Look = Look(),
) -> folium.Map:
    """The layer's assets the principal may read, by stage and deadline status: inline up to
    ``data.INLINE_MAX``, as vector tiles above it (a served page) or refused (a file)."""
    count = data.asset_count(session, principal=principal, flt=flt)
    tiles = count > data.INLINE_MAX
    if tiles and not look.served:
        raise TooLarge(
            f"所选范围有 {count:,} 个项目，超过单个文件的上限 {data.INLINE_MAX:,} 个。"
            "请用 --county 选一个县区，或用 --kind / --stage / --status 缩小范围。",
            f"{count:,} assets match, more than a file holds ({data.INLINE_MAX:,}). Choose a "
            "county with --county, or narrow with --kind / --stage / --status.",
            field="county",
        )
    lang, words = look.lang, text.TEXT[look.lang]
    names = data.county_names(session)
    layer_name = LAYERS[flt.layer].zh if lang == "zh" else LAYERS[flt.layer].en
    m = _base_map(layer_name, look)
    MapConfig(_config(look, counties=names, layer=flt.layer)).add_to(m)
    boundaries = data.county_boundaries(session, principal=principal)
    folium.GeoJson(
        boundaries,
        name=words["counties"],
        style_function=style.boundary_style,
        interactive=False,  # clicks go through to the assets (and the tile layer's hit test)
    ).add_to(m)

    shown = count
    features: dict = {"features": []}
    if tiles:
        query = urlencode(flt.query())
        AssetTiles(
            f"/tiles/{flt.layer}/{{z}}/{{x}}/{{y}}.pbf?{query}",
            layer=flt.layer,
            name=words["assets"],
            min_zoom=TILE_MIN_ZOOM,
            max_zoom=MAX_ZOOM,
        ).add_to(m)
        RemoteCodeSearch(
            f"/assets?{urlencode({'layer': flt.layer, 'limit': 10})}", placeholder=words["search"]
        ).add_to(m)
    else:
        features = data.asset_features(session, principal=principal, flt=flt)
        shown = len(features["features"])
        assets = folium.GeoJson(
            features,
            name=words["assets"],
            style_function=style.feature_style,
            marker=folium.CircleMarker(),
            on_each_feature=JsCode("RebuildMaps.bindAssetPopup"),
        ).add_to(m)
        if features["features"]:
            search = Search(
                assets,
                search_label="code",
                search_zoom=16,
                geom_type="Point" if flt.layer == "houses" else "Line",
                placeholder=words["search"],
                collapsed=True,
            )
            use_local(search, SEARCH_JS, SEARCH_CSS).add_to(m)
    _layer_legend(look, tiles=tiles).add_to(m)
    Panel(_layer_panel(look, flt, names, principal, shown, tiles)).add_to(m)
    # Open on the assets drawn inline; with tiles (or none), on the county or the city.
    focus = [f for f in boundaries["features"] if f["id"] == flt.county] or boundaries["features"]
    if not tiles and features["features"]:
        focus = features["features"]
    bounds = get_bounds([f["geometry"]["coordinates"] for f in focus], lonlat=True)
    return _finish(m, bounds if focus else None)


def _layer_legend(look: Look, *, tiles: bool) -> Legend:
    words = text.TEXT[look.lang]
    statuses = text.asset_status_labels(look.lang)
    by_status = []
    for status in ASSET_STATUSES:
        swatch = style.asset_style(status, "started", "point")
        by_status.append(LegendEntry(statuses[status], swatch["color"], swatch["fillColor"]))
    stages = text.stage_labels(look.lang)
    by_stage = [
        LegendEntry(stages[t.key], "#555555", "#555555", style.stage_fill(t.key)) for t in STAGES
    ]
    notes = [words["legend_cluster"]] if tiles else []
    return Legend([(words["legend_status"], by_status), (words["legend_stage"], by_stage)], notes)


def _layer_panel(look, flt, names, principal, shown: int, tiles: bool) -> PanelContent:
    lang, words = look.lang, text.TEXT[look.lang]
    layer_name = LAYERS[flt.layer].zh if lang == "zh" else LAYERS[flt.layer].en
    where = names[flt.county][lang] if flt.county else ""
    subtitle = " · ".join(x for x in (where, words["shown"].format(n=f"{shown:,}")) if x)
    note = words["tiles_mode"].format(bound=f"{data.INLINE_MAX:,}") if tiles else None
    if not look.served:
        return PanelContent(layer_name, subtitle, str(flt.as_of), words["as_of"], note=note)
    everything = [("", words["all"])]
    lang_query = "en" if lang == "en" else None
    query = {k: v for k, v in flt.query().items() if k != "as_of"} | {"lang": lang_query}
    return PanelContent(
        title=layer_name,
        subtitle=subtitle,
        as_of=str(flt.as_of),
        as_of_label=words["as_of"],
        choices=[
            _county_choice(names, principal, flt.county, lang),
            Choice(
                "kind",
                words["kind"],
                everything + list(text.kind_labels(flt.layer, lang).items()),
                flt.kind,
            ),
            Choice(
                "stage",
                words["stage"],
                everything + list(text.stage_labels(lang).items()),
                flt.stage,
            ),
            Choice(
                "status",
                words["status"],
                everything + list(text.asset_status_labels(lang).items()),
                flt.status,
            ),
        ],
        apply_label=words["apply"],
        months=_months(f"/maps/{flt.layer}", flt.as_of, words, **query),
        links=[
            (words["home"], _href("/", lang=lang_query)),
            (
                words["overview"],
                _href("/maps/overview", layer=flt.layer, as_of=str(flt.as_of), lang=lang_query),
            ),
            (
                words["switch"],
                _href(f"/maps/{flt.layer}", **(flt.query() | {"lang": _other(lang)})),
            ),
        ],
        hidden=[("lang", "en")] if lang == "en" else [],
        note=note,
    )
