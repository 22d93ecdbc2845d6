// Screen-pop: the server streams this user's incoming calls (/ui/events, SSE); each `call`
// event carries a toast rendered in the user's language, shown at the top of the page.
(function () {
  'use strict';
  var area = document.getElementById('callpop');
  if (!area || !window.EventSource) { return; }
  var source = new EventSource(area.getAttribute('data-events'));
  source.addEventListener('call', function (e) {
    var box = document.createElement('div');
    box.innerHTML = e.data;
    var toast = box.firstElementChild;
    if (!toast) { return; }
    var same = area.querySelector('[data-call="' + toast.getAttribute('data-call') + '"]');
    if (same) { area.replaceChild(toast, same); } else { area.prepend(toast); }
    area.hidden = false;
  });
  area.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-dismiss-pop]');
    if (!btn) { return; }
    var toast = btn.closest('.call-pop');
    if (toast) { toast.remove(); }
    if (!area.firstElementChild) { area.hidden = true; }
  });
})();
