// Shared by every map page (gis/maps): the configuration written by Python (labels, the style
// table, the counties), the popup of an asset, and the vector tile layer. A plain script loaded
// before Folium's code, no bundler: it defines window.RebuildMaps and L.RebuildTiles.
//
// Why a tile layer of our own rather than Leaflet.VectorGrid: VectorGrid 1.3.0 (the last
// release) calls L.DomEvent.fakeStop, gone since Leaflet 1.8, so clicks on features throw; its
// canvas renderer cannot write the count on a cluster; and its bundle is 100 kB for what is
// here about 200 lines. Protocol buffers are read with npm's `pbf` (a UMD build, so it loads
// without a bundler); the vector tile layout (spec 2.1) is decoded below.
(function () {
  "use strict";

  const RM = (window.RebuildMaps = window.RebuildMaps || {});
  RM.tileLayers = RM.tileLayers || []; // for the browser tests and the benchmark
  RM.config = RM.config || null;

  RM.configure = function (config) {
    RM.config = config;
  };

  function text(key) {
    return RM.config.text[key] || key;
  }

  function esc(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  function geometryKind(type) {
    if (type === "Point" || type === "MultiPoint" || type === 1) return "point";
    if (type === "LineString" || type === "MultiLineString" || type === 2) return "line";
    return "polygon";
  }

  // The same table the inline layers were styled with in Python (gis/maps/style.py).
  RM.assetStyle = function (properties, type) {
    const byStatus = RM.config.styles[properties.status] || RM.config.styles.none;
    const byStage = byStatus[properties.stage] || byStatus.not_started;
    return byStage[geometryKind(type)];
  };

  RM.clusterRadius = function (n) {
    return Math.min(10 + 6 * Math.log10(n), 30);
  };

  function row(label, value) {
    return `<tr><th>${esc(text(label))}</th><td>${esc(value)}</td></tr>`;
  }

  RM.popupHtml = function (p) {
    const c = RM.config;
    const status = c.statusLabel[p.status] || p.status || "";
    const rows = [
      row("code", p.code),
      row("village", [c.countyLabel[p.county] || p.county, p.village].filter(Boolean).join(" ")),
      row("kind", c.kindLabel[p.kind] || p.kind),
      row("stage", c.stageLabel[p.stage] || p.stage),
      row("percent", p.percent == null ? "" : `${p.percent}%`),
      row("last_report", p.last_report || text("never")),
      row("due_on", p.due_on || ""),
      row("status", status),
    ].join("");
    const link =
      c.historyUrl && p.id != null
        ? `<a class="history" href="${esc(c.historyUrl.replace("{id}", p.id))}">${esc(text("history"))}</a>`
        : "";
    return `<div class="asset-popup" data-code="${esc(p.code)}"><table>${rows}</table>${link}</div>`;
  };

  RM.clusterPopupHtml = function (p) {
    const c = RM.config;
    const rows = ["done", "pending", "overdue", "none"]
      .map((s) => row(c.statusLabel[s], p[`n_${s}`] ?? 0))
      .join("");
    return `<div class="cluster-popup"><strong>${esc(text("cluster_of").replace("{n}", p.n))}</strong>
      <table>${rows}</table><p>${esc(text("zoom_in"))}</p></div>`;
  };

  RM.bindAssetPopup = function (feature, layer) {
    layer.bindPopup(() => RM.popupHtml(feature.properties), { maxWidth: 320 });
  };

  // --- Mapbox vector tiles (spec 2.1), read with pbf -----------------------------------------

  function readValueField(tag, value, pbf) {
    if (tag === 1) value.v = pbf.readString();
    else if (tag === 2) value.v = pbf.readFloat();
    else if (tag === 3) value.v = pbf.readDouble();
    else if (tag === 4) value.v = pbf.readVarint64();
    else if (tag === 5) value.v = pbf.readVarint();
    else if (tag === 6) value.v = pbf.readSVarint();
    else if (tag === 7) value.v = pbf.readBoolean();
  }

  function readFeature(tag, feature, pbf) {
    if (tag === 1) feature.id = pbf.readVarint();
    else if (tag === 2) pbf.readPackedVarint(feature.tags);
    else if (tag === 3) feature.type = pbf.readVarint();
    else if (tag === 4) pbf.readPackedVarint(feature.commands);
  }

  function readLayer(tag, layer, pbf) {
    if (tag === 1) layer.name = pbf.readString();
    else if (tag === 2) {
      const feature = { tags: [], commands: [], type: 0 };
      layer.features.push(pbf.readMessage(readFeature, feature));
    } else if (tag === 3) layer.keys.push(pbf.readString());
    else if (tag === 4) layer.values.push(pbf.readMessage(readValueField, { v: null }).v);
    else if (tag === 5) layer.extent = pbf.readVarint();
  }

  function readTile(tag, layers, pbf) {
    if (tag === 3) {
      const layer = { name: "", features: [], keys: [], values: [], extent: 4096 };
      pbf.readMessage(readLayer, layer);
      layers[layer.name] = layer;
    }
  }

  function zigzag(n) {
    return (n >> 1) ^ -(n & 1);
  }

  // Geometry commands -> parts (points, lines or rings) of [x, y] in tile pixels.
  function geometry(commands, scale) {
    const parts = [];
    let part = null;
    let x = 0;
    let y = 0;
    for (let i = 0; i < commands.length; ) {
      const id = commands[i] & 7;
      const count = commands[i++] >> 3;
      if (id === 1 || id === 2) {
        for (let k = 0; k < count; k++) {
          x += zigzag(commands[i++]);
          y += zigzag(commands[i++]);
          if (id === 1) parts.push((part = []));
          part.push([x * scale, y * scale]);
        }
      } else if (id === 7 && part) {
        part.push(part[0]);
      }
    }
    return parts;
  }

  RM.decodeTile = function (buffer, layerName, tileSize) {
    const layers = new Pbf(new Uint8Array(buffer)).readFields(readTile, {});
    const layer = layers[layerName];
    if (!layer) return [];
    const scale = tileSize / layer.extent;
    return layer.features.map((f) => {
      const properties = {};
      for (let i = 0; i < f.tags.length; i += 2) {
        properties[layer.keys[f.tags[i]]] = layer.values[f.tags[i + 1]];
      }
      return { type: f.type, properties, parts: geometry(f.commands, scale) };
    });
  };

  // --- Drawing and hit-testing ---------------------------------------------------------------

  function isCluster(feature) {
    return feature.properties.n != null && feature.properties.id == null;
  }

  function countLabel(n) {
    return n >= 10000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : `${n}`;
  }

  function drawCluster(ctx, feature) {
    const [x, y] = feature.parts[0][0];
    const radius = RM.clusterRadius(feature.properties.n);
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, 2 * Math.PI);
    ctx.globalAlpha = 0.75;
    ctx.fillStyle = RM.config.statusColour[feature.properties.status] || "#888";
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
    ctx.fillStyle = "#fff";
    ctx.font = "bold 12px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(countLabel(feature.properties.n), x, y);
  }

  function drawAsset(ctx, feature) {
    const style = RM.assetStyle(feature.properties, feature.type);
    ctx.lineWidth = style.weight;
    ctx.strokeStyle = style.color;
    ctx.setLineDash(style.dashArray ? style.dashArray.split(",").map(Number) : []);
    ctx.beginPath();
    if (feature.type === 1) {
      for (const [[x, y]] of feature.parts) {
        ctx.moveTo(x + style.radius, y);
        ctx.arc(x, y, style.radius, 0, 2 * Math.PI);
      }
    } else {
      for (const part of feature.parts) {
        part.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      }
    }
    if (feature.type !== 2) {
      ctx.globalAlpha = style.fillOpacity;
      ctx.fillStyle = style.fillColor;
      ctx.fill("evenodd");
      ctx.globalAlpha = 1;
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }

  function segmentDistance([px, py], [ax, ay], [bx, by]) {
    const dx = bx - ax;
    const dy = by - ay;
    const t = dx || dy ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy))) : 0;
    return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
  }

  function insideRing([px, py], ring) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  // Distance in pixels from a point to a feature (0 inside a polygon).
  function distance(point, feature) {
    if (feature.type === 1 || isCluster(feature)) {
      const radius = isCluster(feature) ? RM.clusterRadius(feature.properties.n) : 4;
      const d = Math.min(...feature.parts.map(([p]) => Math.hypot(point[0] - p[0], point[1] - p[1])));
      return Math.max(0, d - radius);
    }
    if (feature.type === 3 && feature.parts.some((ring) => insideRing(point, ring))) return 0;
    let best = Infinity;
    for (const part of feature.parts) {
      for (let i = 1; i < part.length; i++) best = Math.min(best, segmentDistance(point, part[i - 1], part[i]));
    }
    return best;
  }

  const CLICK_TOLERANCE_PX = 6;

  L.RebuildTiles = L.GridLayer.extend({
    options: { url: "", layer: "houses", pane: "overlayPane" },

    initialize: function (options) {
      L.GridLayer.prototype.initialize.call(this, options);
      this._features = {};
      RM.tileLayers.push(this);
    },

    createTile: function (coords, done) {
      const size = this.getTileSize();
      const canvas = L.DomUtil.create("canvas", "rebuild-tile");
      canvas.width = size.x;
      canvas.height = size.y;
      const key = this._tileCoordsToKey(coords);
      const url = L.Util.template(this.options.url, { z: coords.z, x: coords.x, y: coords.y });
      fetch(url, { credentials: "same-origin" })
        .then((response) => {
          if (response.status === 204) return new ArrayBuffer(0);
          if (!response.ok) throw new Error(`${url}: ${response.status}`);
          return response.arrayBuffer();
        })
        .then((buffer) => {
          const features = RM.decodeTile(buffer, this.options.layer, size.x);
          // Clusters and overdue assets last, so that they are drawn on top.
          features.sort((a, b) => rank(a) - rank(b));
          this._features[key] = features;
          const ctx = canvas.getContext("2d");
          for (const f of features) (isCluster(f) ? drawCluster : drawAsset)(ctx, f);
          done(null, canvas);
        })
        .catch((error) => done(error, canvas));
      return canvas;
    },

    onAdd: function (map) {
      L.GridLayer.prototype.onAdd.call(this, map);
      map.on("click", this._click, this);
      this.on("tileunload", this._forget, this);
    },

    onRemove: function (map) {
      map.off("click", this._click, this);
      this.off("tileunload", this._forget, this);
      L.GridLayer.prototype.onRemove.call(this, map);
    },

    _forget: function (event) {
      delete this._features[this._tileCoordsToKey(event.coords)];
    },

    // The feature under a map point: nearest within a few pixels, in the tile under it.
    featureAt: function (latlng) {
      const zoom = this._tileZoom;
      const size = this.getTileSize();
      const pixel = this._map.project(latlng, zoom);
      const tile = pixel.unscaleBy(size).floor();
      const features = this._features[this._tileCoordsToKey({ x: tile.x, y: tile.y, z: zoom })] || [];
      const local = [pixel.x - tile.x * size.x, pixel.y - tile.y * size.y];
      let best = null;
      let bestDistance = CLICK_TOLERANCE_PX;
      for (const feature of features) {
        const d = distance(local, feature);
        if (d <= bestDistance) {
          best = feature;
          bestDistance = d;
        }
      }
      return best;
    },

    _click: function (event) {
      const feature = this.featureAt(event.latlng);
      if (!feature) return;
      const html = isCluster(feature) ? RM.clusterPopupHtml(feature.properties) : RM.popupHtml(feature.properties);
      L.popup({ maxWidth: 320 }).setLatLng(event.latlng).setContent(html).openOn(this._map);
    },

    // What the loaded tiles of the current zoom hold (tiles of the zoom before may linger
    // until the new ones are in): assets, clusters and the assets the clusters stand for.
    counts: function () {
      const counts = { assets: 0, clusters: 0, clustered: 0, tiles: 0 };
      for (const [key, features] of Object.entries(this._features)) {
        if (Number(key.split(":")[2]) !== this._tileZoom) continue;
        counts.tiles += 1;
        for (const f of features) {
          if (isCluster(f)) {
            counts.clusters += 1;
            counts.clustered += f.properties.n;
          } else counts.assets += 1;
        }
      }
      return counts;
    },
  });

  function rank(feature) {
    if (isCluster(feature)) return 2;
    return feature.properties.status === "overdue" ? 1 : 0;
  }

  L.rebuildTiles = (options) => new L.RebuildTiles(options);
})();
