// Starts Swagger UI on the server's own OpenAPI description (no CDN, no network).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api-docs/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
  });
});
