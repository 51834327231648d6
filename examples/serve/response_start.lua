-- mod_magnet script run when any response starts (magnet.attract-response-start-to): gives
-- lighttpd's own error pages (HTML, e.g. 413 for a body over server.max-request-size, which
-- lighttpd refuses before the handler runs) the handler's format: text/plain, one line
-- "<status> <reason>". Responses of the handler are left alone.
local r = lighty.r
local status = r.req_item.http_status
if status and status >= 400 and (r.resp_header["Content-Type"] or ""):find("^text/html") then
  local reasons = {
    [400] = "bad request (malformed request line or headers)",
    [408] = "request timeout (the body did not arrive in time)",
    [411] = "length required (send a Content-Length)",
    [413] = "the request is over the server's size limit (server.max-request-size)",
    [414] = "the URI is too long",
    [417] = "expectation failed",
    [431] = "request header fields too large",
    [501] = "the method or transfer coding is not supported by the server",
    [505] = "HTTP version not supported",
  }
  r.resp_header["Content-Type"] = "text/plain; charset=utf-8"
  r.resp_body.set({ status .. " " .. (reasons[status] or "error") .. "\n" })
end
return 0
