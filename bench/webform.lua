-- wrk script: web-form submissions with realistic sender reuse (500 addresses).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"email":"inwoner%d@example.nl","subject":"Container niet geleegd","text":"De grijze container is niet geleegd (%d)."}',
    n % 500, n)
  return wrk.format(nil, "/v1/channels/web", nil, body)
end
