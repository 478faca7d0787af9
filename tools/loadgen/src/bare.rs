//! The HTTP ceiling: a bare actix-web server that reads the body on the ingest's path and
//! answers 200, with actix's default worker count like the ingest. Run as its own process
//! (`loadgen bare-http`), so it competes for the cores like the real service.

use actix_web::{web, App, HttpResponse, HttpServer};

async fn ok(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

pub fn serve(listen: &str) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(async {
        HttpServer::new(|| App::new().route("/api/webhook/payment", web::post().to(ok)))
            .bind(listen)?
            .run()
            .await
    })
}
