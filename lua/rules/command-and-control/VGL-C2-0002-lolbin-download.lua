--[[
VGL-C2-0002: file download with a Windows binary (MITRE T1105, Ingress Tool
Transfer).

certutil -urlcache / -verifyctl with a URL, bitsadmin /transfer or /addfile
with a URL, and PowerShell Net.WebClient DownloadString / DownloadFile /
DownloadData (download cradles, also in the obfuscated forms that keep the
method name): built-in tools fetching the next stage, which proxies and
allow-lists let through.
]]

return vigil.rule {
  id = "VGL-C2-0002",
  title = "File downloaded with certutil, bitsadmin or a PowerShell download cradle",
  description = "A command line downloads a file with certutil -urlcache/-verifyctl, " ..
    "bitsadmin /transfer or Net.WebClient.",
  severity = "medium",
  tactic = "Command and Control",
  technique = "T1105",
  tags = {"windows", "process", "lolbin", "powershell"},
  where = {
    ["event.category"] = "process",
    -- linear-time patterns; which tool and the URL are checked in match
    ["process.command_line"] = {
      vigil.re [=[[[:space:]][/-](urlcache|verifyctl|transfer|addfile)[[:space:]]]=],
      vigil.contains "net.webclient",
    },
  },
  match = function(e)
    local cmd = e["process.command_line"]
    if type(cmd) ~= "string" then
      return false
    end
    cmd = cmd:lower()
    if cmd:find("net.webclient", 1, true) then
      return cmd:find("downloadstring", 1, true) ~= nil or
             cmd:find("downloadfile", 1, true) ~= nil or cmd:find("downloaddata", 1, true) ~= nil
    end
    local url = cmd:find("http://", 1, true) or cmd:find("https://", 1, true) or
                cmd:find("ftp://", 1, true)
    return url ~= nil and
           (cmd:find("certutil", 1, true) ~= nil or cmd:find("bitsadmin", 1, true) ~= nil)
  end,
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
