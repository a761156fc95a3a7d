// The fix page's tools: tap the product, keep / remove brushes, undo, preview, publish.
// Plain JS on a canvas; pointer events take a finger, a pen and a mouse alike. Every edit is kept in
// photo pixels and the whole list is sent with each preview: the server replays it, so undo is the
// list one shorter. Previews are remembered here by their edit list, so undo shows the earlier one at once.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("fix-data").textContent);
  var photo = document.getElementById("photo");
  var edit = document.getElementById("edit");
  var view = document.getElementById("preview");
  var statusLine = document.getElementById("status");
  var verdictList = document.getElementById("verdict");
  var publishButton = document.getElementById("publish");
  var undoButton = document.getElementById("undo");
  var sizeInput = document.getElementById("size");
  var shownMask = document.getElementById("shown-mask");   // the mask on screen now
  var toolButtons = Array.prototype.slice.call(document.querySelectorAll("[data-tool]"));
  var limits = data.limits;

  var tool = "tap";
  var edits = [];
  var previews = {};      // JSON of an edit list -> {mask: Image, verdict: answer}
  var drawing = null;     // the stroke or tap under the finger
  var inFlight = false;
  var finished = false;

  function key(list) { return JSON.stringify(list); }

  function say(text, state) {
    statusLine.textContent = text;
    statusLine.setAttribute("data-state", state || "ready");
  }

  function loadImage(src) {
    return new Promise(function (resolve, reject) {
      var image = new Image();
      image.onload = function () { resolve(image); };
      image.onerror = reject;
      image.src = src;
    });
  }

  // The newest preview that matches the start of the current edit list, and how many edits it covers.
  function shown() {
    for (var count = edits.length; count > 0; count--) {
      var found = previews[key(edits.slice(0, count))];
      if (found) { return {count: count, preview: found}; }
    }
    return {count: 0, preview: previews[key([])]};
  }

  function scale() { return edit.width / data.width; }

  function layer(width, height) {
    var canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    return canvas;
  }

  function drawEdit(context, item) {
    var s = scale();
    context.save();
    if (item.tap) {
      context.fillStyle = "rgba(255, 200, 0, 0.95)";
      context.strokeStyle = "#000";
      context.lineWidth = 2;
      context.beginPath();
      context.arc(item.tap[0] * s, item.tap[1] * s, 9, 0, 2 * Math.PI);
      context.fill();
      context.stroke();
    } else {
      var points = item.keep || item.remove;
      context.strokeStyle = item.keep ? "rgba(40, 200, 90, 0.55)" : "rgba(230, 40, 40, 0.55)";
      context.fillStyle = context.strokeStyle;
      context.lineWidth = 2 * item.r * s;
      context.lineCap = "round";
      context.lineJoin = "round";
      context.beginPath();
      context.moveTo(points[0][0] * s, points[0][1] * s);
      for (var i = 1; i < points.length; i++) { context.lineTo(points[i][0] * s, points[i][1] * s); }
      if (points.length === 1) { context.arc(points[0][0] * s, points[0][1] * s, item.r * s, 0, 2 * Math.PI); context.fill(); }
      context.stroke();
    }
    context.restore();
  }

  function checkerboard(context, width, height) {
    var cell = 12;
    for (var y = 0; y < height; y += cell) {
      for (var x = 0; x < width; x += cell) {
        context.fillStyle = ((x / cell + y / cell) % 2) ? "#cfcfcf" : "#ffffff";
        context.fillRect(x, y, cell, cell);
      }
    }
  }

  function render() {
    var width = edit.width, height = edit.height;
    var current = shown();
    var mask = current.preview.mask;
    if (shownMask.src !== mask.src) { shownMask.src = mask.src; }
    var context = edit.getContext("2d");
    context.drawImage(photo, 0, 0, width, height);
    var shade = layer(width, height), shadeContext = shade.getContext("2d");
    shadeContext.fillStyle = "rgba(16, 24, 48, 0.62)";
    shadeContext.fillRect(0, 0, width, height);
    shadeContext.globalCompositeOperation = "destination-out";
    shadeContext.drawImage(mask, 0, 0, width, height);
    context.drawImage(shade, 0, 0);
    for (var i = current.count; i < edits.length; i++) { drawEdit(context, edits[i]); }
    if (drawing) { drawEdit(context, drawing); }

    var viewContext = view.getContext("2d");
    checkerboard(viewContext, width, height);
    var cut = layer(width, height), cutContext = cut.getContext("2d");
    cutContext.drawImage(photo, 0, 0, width, height);
    cutContext.globalCompositeOperation = "destination-in";
    cutContext.drawImage(mask, 0, 0, width, height);
    viewContext.drawImage(cut, 0, 0);

    var verdict = current.preview.verdict;
    verdictList.textContent = "";
    if (verdict) {
      var lines = verdict.reasons.length ? verdict.reasons : ["The automatic checks found nothing wrong with this cutout."];
      lines.forEach(function (line) {
        var item = document.createElement("li");
        item.textContent = line;
        verdictList.appendChild(item);
      });
    }
    var ready = !finished && edits.length > 0 && current.count === edits.length && !inFlight;
    publishButton.disabled = !ready;
    undoButton.disabled = finished || edits.length === 0;
    edit.setAttribute("data-edits", String(edits.length));
    edit.setAttribute("data-previewed", String(current.count));
  }

  function toPhoto(event) {
    var box = edit.getBoundingClientRect();
    var x = (event.clientX - box.left) / box.width * data.width;
    var y = (event.clientY - box.top) / box.height * data.height;
    return [Math.min(data.width - 1, Math.max(0, Math.round(x))), Math.min(data.height - 1, Math.max(0, Math.round(y)))];
  }

  function radius() {
    var box = edit.getBoundingClientRect();
    var r = Math.round(Number(sizeInput.value) * data.width / box.width);
    return Math.min(limits.maxRadius, Math.max(limits.minRadius, r));
  }

  function pointsSoFar() {
    return edits.reduce(function (sum, item) { return sum + (item.tap ? 0 : (item.keep || item.remove).length); }, 0);
  }

  function refuse(text) { say(text, "refused"); }

  function add(item) {
    if (edits.length >= limits.edits) { return refuse("That is as many edits as one fix takes: undo some, or publish."); }
    if (item.tap && edits.filter(function (e) { return e.tap; }).length >= limits.taps) {
      return refuse("That is as many taps as one fix takes: use the brushes, or undo a tap.");
    }
    if (!item.tap && pointsSoFar() + (item.keep || item.remove).length > limits.totalPoints) {
      return refuse("The strokes are too long in all: undo some, or publish.");
    }
    edits.push(item);
    requestPreview();
  }

  // The link and the whole edit list, as JSON, to this page's own origin; the answer and whether it is a success.
  function post(url, list) {
    return fetch(url, {
      method: "POST", credentials: "omit", cache: "no-store",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({t: data.token, edits: list})
    }).then(function (response) {
      return response.json().then(function (body) { return {ok: response.ok, body: body}; });
    });
  }

  function requestPreview() {
    render();
    if (inFlight || previews[key(edits)] || finished) { return; }
    var sent = edits.slice();
    inFlight = true;
    say("Making the preview…", "busy");
    render();
    post(data.preview, sent).then(function (answer) {
      if (!answer.ok) { throw answer.body; }
      return loadImage(answer.body.mask).then(function (mask) {
        previews[key(sent)] = {mask: mask, verdict: answer.body};
        say("Preview ready. Tap or brush again, undo, or publish.", "ready");
      });
    }).catch(function (problem) {
      if (problem && problem.refused) {
        refuse(problem.title + ". " + problem.message);
        if (["used", "decided", "expired", "forged", "malformed", "unknown-job"].indexOf(problem.refused) >= 0) {
          finished = true;
        } else if (key(edits) === key(sent)) {
          edits.pop();   // this edit was refused: it is not part of the fix
        }
      } else {
        refuse("The preview could not be made (no connection?). Undo or try the edit again.");
        if (key(edits) === key(sent)) { edits.pop(); }
      }
    }).then(function () {
      inFlight = false;
      if (!finished && !previews[key(edits)]) { requestPreview(); } else { render(); }
    });
  }

  function publish() {
    if (publishButton.disabled) { return; }
    publishButton.disabled = true;
    finished = true;
    say("Publishing…", "busy");
    post(data.publish, edits).then(function (answer) {
      var done = document.getElementById("done");
      var title = document.createElement("h2");
      var message = document.createElement("p");
      title.textContent = answer.body.title;
      message.textContent = answer.body.message;
      done.textContent = "";
      done.appendChild(title);
      done.appendChild(message);
      done.hidden = false;
      if (answer.ok) {
        document.getElementById("editor").hidden = true;
        document.title = answer.body.title + " · picr";
        say("Published.", "published");
      } else {
        say(answer.body.title + ". " + answer.body.message, "refused");
      }
    }).catch(function () {
      finished = false;
      refuse("Publishing failed (no connection?). Try again.");
      render();
    });
  }

  edit.addEventListener("pointerdown", function (event) {
    if (finished || event.button > 0) { return; }
    event.preventDefault();
    edit.setPointerCapture(event.pointerId);
    var point = toPhoto(event);
    drawing = tool === "tap" ? {tap: point} : {r: radius()};
    if (tool !== "tap") { drawing[tool] = [point]; }
    drawing.last = [event.clientX, event.clientY];
    render();
  });

  edit.addEventListener("pointermove", function (event) {
    if (!drawing || drawing.tap) { return; }
    event.preventDefault();
    var points = drawing.keep || drawing.remove;
    var moved = Math.hypot(event.clientX - drawing.last[0], event.clientY - drawing.last[1]);
    if (moved < 3 || points.length >= limits.points) { return; }
    points.push(toPhoto(event));
    drawing.last = [event.clientX, event.clientY];
    render();
  });

  function finish(event) {
    if (!drawing) { return; }
    event.preventDefault();
    var item = drawing;
    drawing = null;
    delete item.last;
    add(item);
  }

  edit.addEventListener("pointerup", finish);
  edit.addEventListener("pointercancel", function () { drawing = null; render(); });

  toolButtons.forEach(function (button) {
    button.addEventListener("click", function () {
      tool = button.getAttribute("data-tool");
      toolButtons.forEach(function (other) { other.setAttribute("aria-pressed", String(other === button)); });
    });
  });

  undoButton.addEventListener("click", function () {
    if (!edits.length || finished) { return; }
    edits.pop();
    say(edits.length ? "Undone." : "Back to the held cutout.", "ready");
    requestPreview();
  });

  publishButton.addEventListener("click", publish);

  Promise.all([loadImage(photo.src), loadImage(document.getElementById("held-mask").src)]).then(function (images) {
    edit.width = view.width = images[0].naturalWidth;
    edit.height = view.height = images[0].naturalHeight;
    previews[key([])] = {mask: images[1], verdict: null};
    render();
    edit.setAttribute("data-ready", "true");
  });
}());
