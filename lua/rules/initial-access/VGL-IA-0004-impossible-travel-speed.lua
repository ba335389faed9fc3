--[[
VGL-IA-0004: impossible travel by speed (MITRE T1078, Valid Accounts).

Keeps the last successful sign-in location of each account (ctx:state) and
compares the next one: more than 500 km apart at a speed above 900 km/h (a
passenger jet) is not one person travelling. Needs source.geo.location.lat
and .lon (Entra ID `location.geoCoordinates`, or enrich-geoip). Unlike
VGL-IA-0001 it also catches two far-apart places in one country and ignores
neighbouring countries a train ride apart.
]]

local MIN_KM = 500
local MAX_KMH = 900

local function distance_km(lat1, lon1, lat2, lon2)
  local r = math.pi / 180
  local dlat = (lat2 - lat1) * r
  local dlon = (lon2 - lon1) * r
  local a = math.sin(dlat / 2) ^ 2 +
            math.cos(lat1 * r) * math.cos(lat2 * r) * math.sin(dlon / 2) ^ 2
  return 6371.0 * 2 * math.atan(math.sqrt(a), math.sqrt(1 - a))
end

local function valid(lat, lon)
  return type(lat) == "number" and type(lon) == "number" and
         lat >= -90 and lat <= 90 and lon >= -180 and lon <= 180
end

return vigil.rule {
  id = "VGL-IA-0004",
  title = "Impossible travel between two sign-ins",
  description = "Two successful sign-ins of one account were further apart than anyone can " ..
    "travel in the time between them.",
  severity = "high",
  tactic = "Initial Access",
  technique = "T1078",
  tags = {"identity", "entra", "impossible-travel"},
  where = {
    ["event.category"] = "authentication",
    ["event.outcome"] = "success",
    ["vigil.user"] = vigil.exists,
    ["source.geo.location.lat"] = vigil.exists,
    ["source.geo.location.lon"] = vigil.exists,
  },
  state_ttl = "24h",
  on_event = function(e, ctx)
    local lat = tonumber(e["source.geo.location.lat"])
    local lon = tonumber(e["source.geo.location.lon"])
    if not valid(lat, lon) then
      return
    end
    local user = e["vigil.user"]
    if type(user) ~= "string" or #user > 512 then
      return
    end
    local st = ctx:state(user)
    local now = ctx.time
    if st.t and now > st.t then
      local km = distance_km(st.lat, st.lon, lat, lon)
      local hours = (now - st.t) / 3600000
      local kmh = km / hours
      if km >= MIN_KM and kmh > MAX_KMH then
        ctx:alert {
          description = string.format(
            "Sign-ins %.0f km apart within %.0f minutes (%.0f km/h): %s (%s) then %s (%s).",
            km, hours * 60, kmh, tostring(st.ip), tostring(st.country),
            tostring(e["source.ip"]), tostring(e["source.geo.country_iso_code"])),
        }
      end
    end
    if not st.t or now >= st.t then
      st.t, st.lat, st.lon = now, lat, lon
      st.ip, st.country = e["source.ip"], e["source.geo.country_iso_code"]
    end
  end,
  entities = { account = "vigil.user", ip = "source.ip" },
  suppress = "6h",
}
