// The small results map: Leaflet (global L from /vendor) drawing the assets themselves, with no
// basemap tiles, because an intranet has no tile server to reach. No attribution control: its
// default prefix links to an external site, and the page must name none.

const XINXIANG = [35.3, 113.9];
const STAGE_COLOURS = {
  not_started: "#b23b3b",
  preparatory_done: "#c77c11",
  started: "#1f6fb2",
  completed: "#2e7d32",
  accepted: "#1b5e20",
};

export function createMap(container, onSelect) {
  const map = L.map(container, { attributionControl: false, zoomSnap: 0.5 }).setView(XINXIANG, 9);
  const assets = L.featureGroup().addTo(map);
  const here = L.featureGroup().addTo(map);
  let selectedId = null;
  let features = [];

  function style(feature) {
    const selected = feature.id === selectedId;
    return {
      color: selected ? "#111" : STAGE_COLOURS[feature.properties.stage] || "#555",
      fillColor: STAGE_COLOURS[feature.properties.stage] || "#555",
      weight: selected ? 5 : 3,
      radius: selected ? 11 : 8,
      fillOpacity: 0.8,
    };
  }

  function draw() {
    assets.clearLayers();
    L.geoJSON({ type: "FeatureCollection", features }, {
      style,
      pointToLayer: (feature, latlng) => L.circleMarker(latlng, style(feature)),
      onEachFeature: (feature, layer) => {
        layer.bindTooltip(feature.properties.code);
        layer.on("click", () => onSelect(feature));
      },
    }).addTo(assets);
  }

  return {
    show(collection, position) {
      features = collection?.features || [];
      draw();
      here.clearLayers();
      if (position) {
        L.circleMarker([position.lat, position.lon], {
          radius: 7, color: "#fff", weight: 3, fillColor: "#1a73e8", fillOpacity: 1, interactive: false,
        }).addTo(here);
      }
      const bounds = L.featureGroup([assets, here]).getBounds();
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 16 });
    },
    select(id) {
      selectedId = id;
      draw();
    },
    resize() {
      map.invalidateSize();
    },
  };
}
