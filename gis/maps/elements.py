"""The map pages' own Folium elements: configuration for the browser code, the panel (title,
filters, month steps), the legend, the vector tile layer, the remote code search and the
attribution of a configured basemap. Each is a small ``MacroElement`` added to a map, the way
Folium's plugins are, so that tests can read its options and its rendered JavaScript.

Templates are not autoescaped (Folium's ``Template``): text goes through ``|e`` in HTML and
``|tojson`` in JavaScript.
"""

from dataclasses import dataclass, field
from typing import Any

from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from gis.maps.assets import MAPS_CSS, MAPS_JS, SEARCH_CSS, SEARCH_JS


class MapConfig(JSCSSMixin, MacroElement):
    """Loads our browser code and hands it the labels, the style table and the counties."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            RebuildMaps.configure({{ this.config|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self._name = "MapConfig"
        self.config = config
        self.default_js = list(MAPS_JS)
        self.default_css = list(MAPS_CSS)


@dataclass(frozen=True)
class Choice:
    """A <select> of the filter form: its name, label and (value, label) options; "" is all."""

    name: str
    label: str
    options: list[tuple[str, str]]
    selected: str | None = None


@dataclass(frozen=True)
class PanelContent:
    """What the panel says and offers. ``choices`` empty: no form (the standalone file)."""

    title: str
    subtitle: str
    as_of: str
    as_of_label: str
    choices: list[Choice] = field(default_factory=list)
    apply_label: str = ""
    months: list[tuple[str, str | None]] = field(default_factory=list)  # (label, href or None)
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, href)
    hidden: list[tuple[str, str]] = field(default_factory=list)  # kept by the form (lang)
    note: str | None = None


class Panel(MacroElement):
    """The page's title, what it shows, a filter form and month-by-month steps, as a control."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div id="{{ this.get_name() }}" class="rebuild-panel" hidden>
          <h1>{{ this.content.title|e }}</h1>
          <p class="sub">{{ this.content.subtitle|e }}</p>
          {%- if this.content.links %}
          <p class="nav">{% for label, href in this.content.links -%}
            <a href="{{ href|e }}">{{ label|e }}</a>{% endfor %}</p>
          {%- endif %}
          {%- if this.content.choices %}
          <form method="get" class="filters">
            {%- for name, value in this.content.hidden %}
            <input type="hidden" name="{{ name|e }}" value="{{ value|e }}">
            {%- endfor %}
            {%- for choice in this.content.choices %}
            <label for="{{ this.get_name() }}-{{ choice.name }}">{{ choice.label|e }}</label>
            <select name="{{ choice.name }}" id="{{ this.get_name() }}-{{ choice.name }}">
              {%- for value, label in choice.options %}
              <option value="{{ value|e }}"
                {%- if value == (choice.selected or '') %} selected{% endif %}>
                {{- label|e }}</option>
              {%- endfor %}
            </select>
            {%- endfor %}
            <label for="{{ this.get_name() }}-as_of">{{ this.content.as_of_label|e }}</label>
            <input type="date" name="as_of" id="{{ this.get_name() }}-as_of"
                   value="{{ this.content.as_of|e }}">
            <button type="submit">{{ this.content.apply_label|e }}</button>
          </form>
          {%- else %}
          <p>{{ this.content.as_of_label|e }} {{ this.content.as_of|e }}</p>
          {%- endif %}
          {%- if this.content.months %}
          <p class="months">{% for label, href in this.content.months -%}
            {% if href %}<a class="month" href="{{ href|e }}">{{ label|e }}</a>
            {%- else %}<span class="month off">{{ label|e }}</span>{% endif %}
          {%- endfor %}</p>
          {%- endif %}
          {%- if this.content.note %}<p class="mode">{{ this.content.note|e }}</p>{% endif %}
        </div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            (function () {
                var panel = L.control({position: "topright"});
                panel.onAdd = function () {
                    var div = document.getElementById({{ this.get_name()|tojson }});
                    div.hidden = false;
                    L.DomEvent.disableClickPropagation(div);
                    L.DomEvent.disableScrollPropagation(div);
                    // "All" is an empty choice: leave it out of the query rather than send "".
                    div.querySelectorAll("form").forEach(function (form) {
                        form.addEventListener("submit", function () {
                            form.querySelectorAll("select").forEach(function (select) {
                                select.disabled = !select.value;
                            });
                        });
                    });
                    return div;
                };
                panel.addTo({{ this._parent.get_name() }});
            })();
        {% endmacro %}
        """
    )

    def __init__(self, content: PanelContent) -> None:
        super().__init__()
        self._name = "Panel"
        self.content = content


@dataclass(frozen=True)
class LegendEntry:
    label: str
    colour: str
    fill: str
    fill_opacity: float = 0.85
    area: bool = False

    @property
    def opacity(self) -> float:
        """The swatch's opacity: the fill's, a little stronger so its outline shows."""
        return min(self.fill_opacity + 0.1, 1.0)


class Legend(MacroElement):
    """A legend control: sections of coloured swatches with their (Chinese) labels."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div id="{{ this.get_name() }}" class="rebuild-legend" hidden>
          {%- for heading, entries in this.sections %}
          <h2>{{ heading|e }}</h2>
          <ul>
            {%- for e in entries %}
            <li><span class="swatch{% if e.area %} area{% endif %}"
                      style="border-color: {{ e.colour|e }}; background: {{ e.fill|e }};
                             opacity: {{ e.opacity }}"></span>{{ e.label|e }}</li>
            {%- endfor %}
          </ul>
          {%- endfor %}
          {%- for line in this.notes %}<p>{{ line|e }}</p>{% endfor %}
        </div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            (function () {
                var legend = L.control({position: "bottomright"});
                legend.onAdd = function () {
                    var div = document.getElementById({{ this.get_name()|tojson }});
                    div.hidden = false;
                    return div;
                };
                legend.addTo({{ this._parent.get_name() }});
            })();
        {% endmacro %}
        """
    )

    def __init__(
        self, sections: list[tuple[str, list[LegendEntry]]], notes: list[str] | None = None
    ) -> None:
        super().__init__()
        self._name = "Legend"
        self.sections = sections
        self.notes = notes or []


class AssetTiles(Layer):
    """The layer's assets as vector tiles (``/tiles/{layer}/{z}/{x}/{y}.pbf``), drawn and made
    clickable by ``L.RebuildTiles`` (web/static/maps/rebuild-maps.js) with the inline style."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.rebuildTiles({{ this.options|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, url: str, *, layer: str, name: str, min_zoom: int, max_zoom: int) -> None:
        super().__init__(name=name, overlay=True)
        self._name = "AssetTiles"
        self.options = {"url": url, "layer": layer, "minZoom": min_zoom, "maxZoom": max_zoom}


class RemoteCodeSearch(JSCSSMixin, MacroElement):
    """Search by asset code against ``/assets?q=`` (leaflet-search), for maps drawn as tiles,
    whose features are not in the page; inline maps use Folium's own ``Search``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function () {
                var found = {};
                var control = new L.Control.Search({
                    sourceData: function (text, callResponse) {
                        var url = {{ this.url|tojson }} + "&q=" + encodeURIComponent(text);
                        fetch(url, {credentials: "same-origin"})
                            .then(function (r) { return r.ok ? r.json() : {features: []}; })
                            .then(function (collection) {
                                callResponse(collection.features.map(function (f) {
                                    var centre = L.geoJSON(f).getBounds().getCenter();
                                    found[f.properties.code] = f;
                                    return {code: f.properties.code, loc: [centre.lat, centre.lng]};
                                }));
                            });
                        return {abort: function () {}};
                    },
                    propertyName: "code",
                    propertyLoc: "loc",
                    textPlaceholder: {{ this.placeholder|tojson }},
                    position: "topleft",
                    zoom: {{ this.zoom|tojson }},
                    minLength: 3,
                    marker: false
                });
                control.on("search:locationfound", function (e) {
                    var f = found[e.text];
                    if (!f) { return; }
                    var p = Object.assign({id: f.id, county: f.properties.county_adcode},
                                          f.properties);
                    L.popup().setLatLng(e.latlng).setContent(RebuildMaps.popupHtml(p))
                        .openOn({{ this._parent.get_name() }});
                });
                {{ this._parent.get_name() }}.addControl(control);
            })();
        {% endmacro %}
        """
    )

    def __init__(self, url: str, *, placeholder: str, zoom: int = 16) -> None:
        super().__init__()
        self._name = "RemoteCodeSearch"
        self.url = url
        self.placeholder = placeholder
        self.zoom = zoom
        self.default_js = list(SEARCH_JS)
        self.default_css = list(SEARCH_CSS)


class Attribution(MacroElement):
    """Credit for a configured basemap, without Leaflet's own prefix (a link to its website:
    pages link to no other site)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            L.control.attribution({prefix: false})
                .addAttribution({{ this.text|tojson }})
                .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Attribution"
        self.text = text
