// django-signaltrace: the filter box of the Signal trace panel.
//
// The toolbar loads this module each time it renders the panel, but a module
// runs once per page, and it may run after the panel's "djdt.panel.render"
// event. So it listens for typing on the toolbar's root element (delegation
// keeps working when the History panel swaps the content in), applies the
// filter to content already there, and applies it again on every render of
// the panel, so that the filter survives switching requests in History.
// The filtering itself is filter.js's, shared with the viewer.

import { applyFilter, followParentLink, parse, statusText } from "./filter.js";

const PANEL_ID = "SignalTracePanel";

let words = [];

function debugElement() {
    // django-debug-toolbar 7 and later render into a shadow root.
    const root = document.getElementById("djDebugRoot");
    const scope = root?.shadowRoot ?? document;
    return scope.getElementById("djDebug");
}

function apply(panel) {
    const counts = applyFilter(panel, words);
    const status = panel.querySelector(".st-filter-status");
    if (status) {
        status.textContent = statusText(counts, words);
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
    djDebug.addEventListener("click", followParentLink);
    djDebug.addEventListener("djdt.panel.render", (event) => {
        if (event.detail?.panelId === PANEL_ID) {
            refresh(djDebug);
        }
    });
    refresh(djDebug);
}
