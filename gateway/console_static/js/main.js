// Tabs (ARIA tab pattern: arrow keys move between tabs), sign-in, and each area's setup.
import { $, session, showError } from "./api.js";
import { refreshImageModels, setupImages } from "./images.js";
import { setupAudio } from "./audio.js";
import { setupEmbeddings } from "./embeddings.js";
import { refreshCollections, setupCollections } from "./collections.js";
import { refreshJobs, setupJobs } from "./jobs.js";

const tabs = [...document.querySelectorAll('[role="tab"]')];

function select(tab) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(`#${other.getAttribute("aria-controls")}`).hidden = !selected;
  }
  if (tab.id === "tab-collections" && session.key) refreshCollections().catch(showError);
  if (tab.id === "tab-jobs" && session.key) refreshJobs().catch(showError);
}

function setupTabs() {
  tabs.forEach((tab, index) => {
    tab.tabIndex = index === 0 ? 0 : -1;
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      next.focus();
      select(next);
    });
  });
}

function showSignedIn() {
  const signedIn = Boolean(session.key);
  $("#signed-in").hidden = !signedIn;
  $("#api-key").hidden = signedIn;
  $('#signin label[for="api-key"]').hidden = signedIn;
  $('#signin button[type="submit"]').hidden = signedIn;
}

function setupSignin() {
  $("#signin").addEventListener("submit", (event) => {
    event.preventDefault();
    session.key = $("#api-key").value.trim();
    $("#api-key").value = "";
    showSignedIn();
    showError(null);
    refreshImageModels().catch(() => {}); // no question field until the models are known
  });
  $("#signout").addEventListener("click", () => { session.key = ""; showSignedIn(); $("#api-key").focus(); });
  showSignedIn();
}

setupTabs();
setupSignin();
setupImages();
setupAudio();
setupEmbeddings();
setupCollections();
setupJobs();
