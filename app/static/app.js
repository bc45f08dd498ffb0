// Entry point: wire up both panels once the page is parsed (modules run deferred).
import { initPrice } from "./price.js";
import { initDigit } from "./digit.js";
import { initToken } from "./token.js";

initToken();
initPrice();
initDigit();
