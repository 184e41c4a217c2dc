// django-signaltrace: the filter of a trace's waterfall, for the viewer's
// pages and the toolbar panel (panel.js imports it).
//
// The rows are flat, one per send, each naming its parent (data-st-parent):
// a send stays visible when its signal, sender or one of its receivers
// contains every word typed, and the sends enclosing a match stay too,
// dimmed, so that the match keeps its place in the tree. One pass over the
// rows and one walk up from each match: fast on ten thousand sends.

export function parse(text) {
    return text.toLowerCase().split(/\s+/).filter(Boolean);
}

// Filter every trace (.signaltrace) inside `scope` by `words`, and the lines
// listing the request that redirected here; returns the number of matches
// and of sends of the page's own trace, and the matches in the request
// before, for a status line.
export function applyFilter(scope, words) {
    let status = null;
    let before = 0;
    for (const trace of scope.querySelectorAll(".signaltrace")) {
        const counts = filterTrace(trace, words);
        if (!trace.closest(".st-previous")) {
            status ??= counts;
        }
    }
    for (const line of scope.querySelectorAll(".st-previous-sends > li")) {
        const haystack = line.dataset.stSearch ?? "";
        const match = words.length > 0 && words.every((w) => haystack.includes(w));
        line.classList.toggle("st-hidden", words.length > 0 && !match);
        before += match ? 1 : 0;
    }
    return { ...(status ?? { matching: 0, sends: 0 }), before };
}

function filterTrace(trace, words) {
    // Only this trace's own rows: a folded trace inside it is filtered apart.
    const rows = [...trace.querySelectorAll(".st-send")].filter(
        (row) => row.closest(".signaltrace") === trace
    );
    const filtering = words.length > 0;
    const byId = new Map(rows.map((row) => [row.dataset.stId, row]));
    const kept = new Set();
    let matching = 0;
    for (const row of rows) {
        const haystack = row.dataset.stSearch ?? "";
        const match = filtering && words.every((word) => haystack.includes(word));
        row.classList.toggle("st-match", match);
        if (match) {
            matching += 1;
            let parent = byId.get(row.dataset.stParent);
            while (parent && !kept.has(parent)) {
                kept.add(parent);
                parent = byId.get(parent.dataset.stParent);
            }
        }
    }
    for (const row of rows) {
        const match = row.classList.contains("st-match");
        row.classList.toggle("st-hidden", filtering && !match && !kept.has(row));
        row.classList.toggle("st-context", filtering && !match && kept.has(row));
    }
    // "After the response" stays only with a row under it.
    const after = trace.querySelector(".st-after");
    const divider = trace.querySelector(".st-divider");
    if (after && divider) {
        const empty = ![...after.children].some(
            (row) => !row.classList.contains("st-hidden")
        );
        divider.classList.toggle("st-hidden", empty);
    }
    return { matching, sends: rows.length };
}

export function statusText({ matching, sends, before }, words) {
    if (!words.length) {
        return "";
    }
    const text = `${matching} of ${sends} sends match`;
    return before ? `${text}, and ${before} in the request before` : text;
}

// A link to the send a nested send was made in: open and show that row,
// wherever the page is (a shadow root does not follow #fragments).
export function followParentLink(event) {
    const link = event.target.closest?.(".st-parent-link");
    if (!link) {
        return;
    }
    const root = link.getRootNode();
    const target = root.getElementById?.(link.getAttribute("href").slice(1));
    if (target) {
        event.preventDefault();
        target.classList.remove("st-hidden");
        target.scrollIntoView({ block: "center" });
        target.querySelector("summary")?.focus();
    }
}

// The viewer's pages: one filter box per page, for every trace on it.
if (document.body?.classList.contains("st-viewer")) {
    const input = document.querySelector(".st-filter");
    const status = document.querySelector(".st-filter-status");
    const apply = () => {
        const words = parse(input.value);
        const counts = applyFilter(document, words);
        if (status) {
            status.textContent = statusText(counts, words);
        }
    };
    input?.addEventListener("input", apply);
    if (input?.value) {
        apply();
    }
    document.addEventListener("click", followParentLink);
}
