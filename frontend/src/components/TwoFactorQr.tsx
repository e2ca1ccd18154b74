// The authenticator app's set-up as a QR code, drawn in the browser from the otpauth://
// URI (no image service ever sees the secret).
import { useEffect, useState } from "react";

export function TwoFactorQr({ uri }: { uri: string }) {
  const [svg, setSvg] = useState("");
  useEffect(() => {
    let alive = true;
    // Loaded when a set-up starts: no other page pays for the QR encoder.
    import("qrcode")
      .then((QRCode) => QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "M", margin: 1 }))
      .then((markup) => alive && setSvg(markup))
      .catch(() => alive && setSvg(""));
    return () => {
      alive = false;
    };
  }, [uri]);
  if (!svg) return null;
  // An <img> of the SVG (data: URL): no markup is injected into the page.
  return (
    <img
      className="qr"
      data-testid="totp-qr"
      src={`data:image/svg+xml;utf8,${encodeURIComponent(svg)}`}
      alt="QR code to scan with your authenticator app"
      width={184}
      height={184}
    />
  );
}
