import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app/App";
import { applyTheme, useThemeStore } from "./lib/theme";
import "./styles/tokens.css";
import "./styles/app.css";

// Set the theme before the first paint so a light-theme user never sees a dark flash.
applyTheme(useThemeStore.getState().theme);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
