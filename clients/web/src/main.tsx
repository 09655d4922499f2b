import { render } from "preact";
import { registerServiceWorker } from "./offline/sw-client";
import { App } from "./ui/App";
import "./styles.css";

render(<App />, document.getElementById("app")!);
registerServiceWorker();
