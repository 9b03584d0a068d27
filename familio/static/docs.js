// The API reference at /docs: Swagger UI (vendored in swagger-ui/) drawing this server's own
// OpenAPI document. A file of its own rather than an inline script, since the page's
// Content-Security-Policy runs script files of this server only.
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  if (root === null || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapi,
    domNode: root,
    // BaseLayout, without the standalone top bar: the site's own header is above it.
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Swagger UI would otherwise send the document to a validator on another site.
    validatorUrl: null,
    deepLinking: true,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    // The Authorize dialog's token lives in this tab only, never in storage.
    persistAuthorization: false,
  });
})();
