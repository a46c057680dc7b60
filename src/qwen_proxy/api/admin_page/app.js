// The admin page's entry point: sign-in, the sections (by the URL's #fragment) and polling.

import { AccountsScreen, CookiesDialog } from "./accounts.js";
import { api, forgetKey, onKeyRefused, storedKey, storeKey } from "./api.js";
import { ConversationsScreen } from "./conversations.js";
import { KeysScreen } from "./keys.js";
import { LiveScreen } from "./live.js";
import { toast } from "./ui.js";

/** How often each screen reloads while it shows, in milliseconds. */
const POLL = { accounts: 5000, keys: 15000, conversations: 15000, live: 3000 };
const DEFAULT_SECTION = "accounts";

const login = document.getElementById("login");
const tabs = document.getElementById("tabs");
const signOutButton = document.getElementById("sign-out");

let accounts;
const screens = {};
let current = null;
let timer = 0;
let loading = false;

function sectionFromHash() {
  const name = location.hash.slice(1);
  return name in screens ? name : DEFAULT_SECTION;
}

async function reload() {
  if (loading || !current || document.hidden) return;
  loading = true;
  try {
    await screens[current].load();
  } catch (error) {
    if (error.status !== 401) toast(error.message, true);
  } finally {
    loading = false;
  }
}

function show(name) {
  current = name;
  for (const section of Object.keys(screens)) {
    document.getElementById(section).hidden = section !== name;
  }
  for (const tab of tabs.querySelectorAll(".tab")) {
    if (tab.dataset.section === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  clearInterval(timer);
  timer = setInterval(reload, POLL[name]);
  loading = false;
  reload();
}

async function enter(focusContent = false) {
  // which sections this gateway serves: the page never asks a route that is not there
  try {
    const answer = await api("GET", "/admin/routes");
    screens.keys.available = answer.sections.includes("keys");
  } catch (error) {
    if (error.status === 401) return; // signed out by the refusal
    screens.keys.available = null; // unknown: the keys screen finds out itself
  }
  login.hidden = true;
  tabs.hidden = false;
  signOutButton.hidden = false;
  show(sectionFromHash());
  // the key field that had focus is gone: carry on at the content
  if (focusContent) document.getElementById("main").focus({ preventScroll: true });
}

function signOut(message = "") {
  forgetKey();
  clearInterval(timer);
  current = null;
  for (const section of Object.keys(screens)) document.getElementById(section).hidden = true;
  tabs.hidden = true;
  signOutButton.hidden = true;
  login.hidden = false;
  document.getElementById("login-error").textContent = message;
  document.getElementById("admin-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById("admin-key");
  const error = document.getElementById("login-error");
  const button = event.currentTarget.querySelector("button[type=submit]");
  const key = input.value.trim();
  error.textContent = "";
  if (!key) {
    error.textContent = "Enter the admin key.";
    input.focus();
    return;
  }
  button.disabled = true;
  try {
    await api("GET", "/admin/routes", undefined, key);
    storeKey(key);
    input.value = "";
    await enter(true);
  } catch (failure) {
    error.textContent = failure.status === 401 ? "That is not this gateway's admin key." : failure.message;
    input.focus();
  } finally {
    button.disabled = false;
  }
}

function boot() {
  const cookies = new CookiesDialog(() => accounts.load());
  accounts = new AccountsScreen(cookies);
  screens.accounts = accounts;
  screens.keys = new KeysScreen();
  screens.conversations = new ConversationsScreen();
  screens.live = new LiveScreen();

  document.getElementById("login-form").addEventListener("submit", signIn);
  signOutButton.addEventListener("click", () => signOut());
  onKeyRefused(() => signOut("The gateway refused the admin key (was it changed?). Sign in again."));
  window.addEventListener("hashchange", () => {
    if (current) show(sectionFromHash());
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) reload();
  });

  if (storedKey()) enter();
  else signOut();
}

boot();
