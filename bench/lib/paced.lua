-- Paced small responses: each connection waits 1 ms after every response before it sends
-- its next request (wrk's delay() hook), so 50 connections offer well under what a proxy
-- carries here and every proxy runs at nearly the same rate. The tail is then measured
-- below saturation. wrk's timers tick in whole milliseconds, so the connections' requests
-- tend to leave together, in bursts, rather than evenly spread.
delay = function()
  return 1
end
