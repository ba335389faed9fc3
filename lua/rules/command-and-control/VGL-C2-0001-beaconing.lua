--[[
VGL-C2-0001: beaconing, regular-interval connections to one external host
(MITRE T1071, Application Layer Protocol).

Implants call home on a timer (every N seconds, with a little jitter). For
each source -> external destination:port the rule keeps the times between
connections (ctx:state, the last 20 gaps) and alerts when at least 8 gaps
have a mean period of 10 s to 6 h and a coefficient of variation
(standard deviation / mean) of at most 0.15. Works on any connection log:
NSG flow logs (flow-begin; continue/end records of the same flow are not new
connections), Sysmon 3, Defender for Endpoint network events; not Traffic
Analytics (azure.networkanalytics), whose flow-summary records are aggregates
emitted at a fixed interval and so look like perfect beacons.
Private, loopback and link-local destinations are left out; update
checkers and telemetry agents also poll on a timer: exclude them by
destination (see docs/rule-pack.md).
]]

local MIN_GAPS = 8
local MAX_GAPS = 20
local MIN_PERIOD_MS = 10 * 1000
local MAX_PERIOD_MS = 6 * 3600 * 1000
local MIN_GAP_MS = 1000        -- closer events are one connection logged twice
local MAX_JITTER = 0.15
local REALERT_MS = 6 * 3600 * 1000

local function stats(gaps)
  local n, sum = #gaps, 0
  for i = 1, n do
    sum = sum + gaps[i]
  end
  local mean = sum / n
  local var = 0
  for i = 1, n do
    var = var + (gaps[i] - mean) ^ 2
  end
  return mean, math.sqrt(var / n) / mean
end

return vigil.rule {
  id = "VGL-C2-0001",
  title = "Beaconing to an external host",
  description = "Connections from one source to one external destination at a regular " ..
    "interval.",
  severity = "medium",
  tactic = "Command and Control",
  technique = "T1071",
  tags = {"network", "nsg", "sysmon", "beaconing"},
  where = {
    ["event.category"] = "network",
    ["event.type"] = vigil.neg "denied",
    -- continue/end records are the same connection again; Traffic Analytics
    -- summaries (flow-summary) come once per aggregation interval by design
    ["event.action"] = vigil.neg {"flow-continue", "flow-end", "flow-summary"},
    ["network.direction"] = vigil.neg "inbound",
    ["source.ip"] = vigil.exists,
    ["destination.ip"] = vigil.neg {
      vigil.cidr "10.0.0.0/8", vigil.cidr "172.16.0.0/12", vigil.cidr "192.168.0.0/16",
      vigil.cidr "127.0.0.0/8", vigil.cidr "169.254.0.0/16", vigil.cidr "100.64.0.0/10",
      vigil.cidr "224.0.0.0/4", vigil.cidr "255.255.255.255/32", vigil.cidr "0.0.0.0/8",
      vigil.cidr "::1/128", vigil.cidr "fc00::/7", vigil.cidr "fe80::/10", vigil.cidr "ff00::/8",
    },
  },
  state_ttl = "12h",
  on_event = function(e, ctx)
    local dst = e["destination.ip"]
    if type(dst) ~= "string" then
      return
    end
    local key = tostring(e["source.ip"]) .. ">" .. dst .. ":" .. tostring(e["destination.port"])
    if #key > 512 then
      return -- not addresses: ctx:state keys are bounded
    end
    local st = ctx:state(key)
    local now = ctx.time
    if st.last then
      local gap = now - st.last
      if gap < MIN_GAP_MS then
        return -- same connection, or out of order
      end
      if gap > MAX_PERIOD_MS then
        st.gaps = {}
      else
        local gaps = st.gaps or {}
        gaps[#gaps + 1] = gap
        if #gaps > MAX_GAPS then
          table.remove(gaps, 1)
        end
        st.gaps = gaps
      end
    end
    st.last = now
    local gaps = st.gaps
    if not gaps or #gaps < MIN_GAPS then
      return
    end
    local mean, jitter = stats(gaps)
    if mean < MIN_PERIOD_MS or jitter > MAX_JITTER then
      return
    end
    if st.alerted and now - st.alerted < REALERT_MS then
      return
    end
    st.alerted = now
    ctx:alert {
      description = string.format(
        "%d connections from %s to %s port %s every %.0f s on average (jitter %.0f%%).",
        #gaps + 1, tostring(e["source.ip"]), dst, tostring(e["destination.port"]),
        mean / 1000, jitter * 100),
    }
  end,
  entities = { ip = {"source.ip", "destination.ip"}, host = "vigil.host" },
  suppress = "6h",
}
