// kefu pages: small behaviours htmx does not cover. No framework; every page works without it.
(function () {
  'use strict';

  // Forms and buttons that ask before doing something that cannot be undone.
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var ask = form.getAttribute && form.getAttribute('data-confirm');
    if (ask && !window.confirm(ask)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  // A form marked data-reset-on="event" is cleared when the server announces that event
  // (HX-Trigger), i.e. only after it really succeeded.
  document.addEventListener('kefu-note-added', function () {
    document.querySelectorAll('form[data-reset-on="kefu-note-added"] textarea').forEach(function (t) {
      t.value = '';
      t.blur();
    });
  });

  // Copy a token to the clipboard.
  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-copy]');
    if (btn) {
      var el = document.querySelector(btn.getAttribute('data-copy'));
      if (el && navigator.clipboard) {
        navigator.clipboard.writeText(el.textContent.trim()).catch(function () {});
      } else if (el) {
        var r = document.createRange();
        r.selectNodeContents(el);
        var s = window.getSelection();
        s.removeAllRanges();
        s.addRange(r);
      }
      return;
    }
    // The sidebar on narrow screens.
    if (e.target.closest && e.target.closest('[data-toggle-nav]')) {
      document.body.classList.toggle('nav-open');
    } else if (document.body.classList.contains('nav-open') && !e.target.closest('.sidebar')) {
      document.body.classList.remove('nav-open');
    }
  });

  // Ctrl/⌘+Enter sends the note being typed.
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && e.target.matches('.note-form textarea')) {
      e.preventDefault();
      var form = e.target.form;
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }
    // "/" jumps to the search box, as in most tools people use all day.
    if (e.key === '/' && !e.ctrlKey && !e.metaKey && !/^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) {
      var q = document.getElementById('q') || document.querySelector('.gsearch input');
      if (q) {
        e.preventDefault();
        q.focus();
        q.select();
      }
    }
  });

  // A flash message belongs to the moment it was set: keep it out of reloads and bookmarks.
  if (window.history && window.history.replaceState && /[?&]flash=/.test(window.location.search)) {
    var url = new URL(window.location.href);
    url.searchParams.delete('flash');
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
  }

  // Messages in the alert area fade after a while; errors stay until the next action.
  document.addEventListener('htmx:beforeRequest', function () {
    var t = document.getElementById('toast');
    if (t) t.querySelectorAll('.alert-error').forEach(function (a) { a.remove(); });
  });
  setTimeout(function () {
    document.querySelectorAll('#toast .alert-ok').forEach(function (a) { a.remove(); });
  }, 6000);
})();
