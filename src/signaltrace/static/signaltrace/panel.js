// django-signaltrace: the filter box of the Signal trace panel.
//
// The toolbar loads this module each time it renders the panel, but a module
// runs once per page, and it may run after the panel's "djdt.panel.render"
// event. So it listens for typing on the toolbar's root element (delegation
// keeps working when the History panel swaps the content in), applies the
// filter to content already there, and applies it again on every render of
// the panel, so that the filter survives switching requests in History.
//
// A send stays visible when its signal, sender or one of its receivers
// contains every word typed; the sends enclosing a match stay too, dimmed,
// so that the match keeps its place in the tree.

const PANEL_ID = "SignalTracePanel";

let words = [];

function debugElement() {
    // django-debug-toolbar 7 and later render into a shadow root.
    const root = document.getElementById("djDebugRoot");
    const scope = root?.shadowRoot ?? document;
    return scope.getElementById("djDebug");
}

function parse(text) {
    return text.toLowerCase().split(/\s+/).filter(Boolean);
}

function apply(panel) {
    const sends = [...panel.querySelectorAll(".st-send")];
    let matching = 0;
    for (const send of sends) {
        const haystack = send.dataset.stSearch ?? "";
        const match = words.length > 0 && words.every((w) => haystack.includes(w));
        send.classList.toggle("st-match", match);
        matching += match ? 1 : 0;
    }
    for (const send of sends) {
        const match = send.classList.contains("st-match");
        const encloses = send.querySelector(".st-send.st-match") !== null;
        const filtering = words.length > 0;
        send.classList.toggle("st-hidden", filtering && !match && !encloses);
        send.classList.toggle("st-context", filtering && !match && encloses);
    }
    const status = panel.querySelector(".st-filter-status");
    if (status) {
        status.textContent = words.length
            ? `${matching} of ${sends.length} sends match`
            : "";
    }
}

function refresh(djDebug) {
    // New content (History switched requests) gets the filter typed before;
    // content that was there before this module ran keeps what is typed in it.
    const panel = djDebug.querySelector(`#${PANEL_ID}`);
    const input = panel?.querySelector(".st-filter");
    if (!input) {
        return;
    }
    if (input.value) {
        words = parse(input.value);
    } else {
        input.value = words.join(" ");
    }
    apply(panel);
}

const djDebug = debugElement();
if (djDebug && !djDebug.dataset.signaltraceFilter) {
    djDebug.dataset.signaltraceFilter = "on";
    djDebug.addEventListener("input", (event) => {
        const input = event.target.closest?.(".st-filter");
        const panel = input?.closest(`#${PANEL_ID}`);
        if (panel) {
            words = parse(input.value);
            apply(panel);
        }
    });
    djDebug.addEventListener("djdt.panel.render", (event) => {
        if (event.detail?.panelId === PANEL_ID) {
            refresh(djDebug);
        }
    });
    refresh(djDebug);
}
