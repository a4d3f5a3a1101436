/*
 * DPoP vectors made with jose 5 (the library the reference provider checks
 * proofs with) and node:crypto: fresh ES256 / ES256K keys, their RFC 7638
 * thumbprints, proofs signed at IAT, and the nonce of HMAC-SHA256 over the
 * minute counter with a secret of 32 bytes of 7.  Regenerate with
 * t/core/oauth_vectors.mjs (Node 22 and jose).
 */

#define V_IAT       1765000000LL
#define V_COUNTER   29416666LL
#define V_NONCE     "sLidQxDiIUsG71GWyzs02RDNO6r7v_rWV4Jh8twYVo0"
#define V_AT        "at-token-for-ath"
#define V_ATH       "_zpdzwe9aj5VCUDbM-NAVBKYew_M0SFV9o5x6YEXuhQ"

typedef struct {
    const char  *alg, *jwk, *jkt, *plain, *res, *wrongtyp;
} dpop_vector_t;

static const dpop_vector_t  dpop_vectors[] = {
    { "ES256", "{\"kty\":\"EC\",\"x\":\"O9LbkKnTnHuxTwd10Y1IR5M5vBhiDCBnFGP_ms8PizM\",\"y\":\"KX0iWQN6YZbuA2cEtayYu0he31WCfZCLl8d8OcdIYr4\",\"crv\":\"P-256\"}", "mt2UXzXXCOJ5ZQ4lfHcoIuapdiHMRACs__7yEq03V5Q",
      "eyJhbGciOiJFUzI1NiIsInR5cCI6ImRwb3Arand0IiwiandrIjp7Imt0eSI6IkVD"
      "IiwieCI6Ik85TGJrS25Ubkh1eFR3ZDEwWTFJUjVNNXZCaGlEQ0JuRkdQX21zOFBp"
      "ek0iLCJ5IjoiS1gwaVdRTjZZWmJ1QTJjRXRheVl1MGhlMzFXQ2ZaQ0xsOGQ4T2Nk"
      "SVlyNCIsImNydiI6IlAtMjU2In19.eyJpYXQiOjE3NjUwMDAwMDAsImp0aSI6Imo"
      "xLUVTMjU2IiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vcGRzLmV4YW1wbGU"
      "uY29tL29hdXRoL3Rva2VuIiwibm9uY2UiOiJzTGlkUXhEaUlVc0c3MUdXeXpzMDJ"
      "SRE5PNnI3dl9yV1Y0Smg4dHdZVm8wIn0.GontTk4g3FHDKbJVF6JOCIQVkw2gOEt"
      "zBqjAJbKOiPYtZP3dqMXbJtnQDq50NAm_7ieF27Hme2PzbV3ZWsjTHw",
      "eyJhbGciOiJFUzI1NiIsInR5cCI6ImRwb3Arand0IiwiandrIjp7Imt0eSI6IkVD"
      "IiwieCI6Ik85TGJrS25Ubkh1eFR3ZDEwWTFJUjVNNXZCaGlEQ0JuRkdQX21zOFBp"
      "ek0iLCJ5IjoiS1gwaVdRTjZZWmJ1QTJjRXRheVl1MGhlMzFXQ2ZaQ0xsOGQ4T2Nk"
      "SVlyNCIsImNydiI6IlAtMjU2In19.eyJpYXQiOjE3NjUwMDAwMDAsImp0aSI6Imo"
      "yLUVTMjU2IiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9QRFMuZXhhbXBsZS5"
      "jb206NDQzL3hycGMvLi9jb20uYXRwcm90by5zZXJ2ZXIuZ2V0U2Vzc2lvbj94PTE"
      "iLCJub25jZSI6InNMaWRReERpSVVzRzcxR1d5enMwMlJETk82cjd2X3JXVjRKaDh"
      "0d1lWbzAiLCJhdGgiOiJfenBkendlOWFqNVZDVURiTS1OQVZCS1lld19NMFNGVjl"
      "vNXg2WUVYdWhRIn0.l3FowHBpgSKQF9kbb3rXTT5wIo7vqxRzb3GIwBU9Yx0jUkD"
      "-sRwQCK5q4OnRmZP6IAdt6bCr2OJNNXi6o9DdIg",
      "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImp3ayI6eyJrdHkiOiJFQyIsIngi"
      "OiJPOUxia0tuVG5IdXhUd2QxMFkxSVI1TTV2QmhpRENCbkZHUF9tczhQaXpNIiwi"
      "eSI6IktYMGlXUU42WVpidUEyY0V0YXlZdTBoZTMxV0NmWkNMbDhkOE9jZElZcjQi"
      "LCJjcnYiOiJQLTI1NiJ9fQ.eyJpYXQiOjE3NjUwMDAwMDAsImp0aSI6ImozIiwia"
      "HRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vcGRzLmV4YW1wbGUuY29tL29hdXRoL"
      "3Rva2VuIiwibm9uY2UiOiJzTGlkUXhEaUlVc0c3MUdXeXpzMDJSRE5PNnI3dl9yV"
      "1Y0Smg4dHdZVm8wIn0.vLoDs-9vxDd2xgkOB4mDJImHu_CU8qaTrJqNTas5X6Ohe"
      "NG9fKDDPntf0lr_QZTrHEbUVFdY1MIBxai9STDR_Q" },
    { "ES256K", "{\"kty\":\"EC\",\"x\":\"5NDqQMwJeNklvUW7ud7HLBLqd46JNoiPyWKsPNuCFxU\",\"y\":\"5OhToPyE_MD3sipOhXcMdErLEpVX4h7v-OYlXV_Y6hU\",\"crv\":\"secp256k1\"}", "uGQpgaKxShsT8hTKKFHutUAf7liENCt3kC2NNR9-2uE",
      "eyJhbGciOiJFUzI1NksiLCJ0eXAiOiJkcG9wK2p3dCIsImp3ayI6eyJrdHkiOiJF"
      "QyIsIngiOiI1TkRxUU13SmVOa2x2VVc3dWQ3SExCTHFkNDZKTm9pUHlXS3NQTnVD"
      "RnhVIiwieSI6IjVPaFRvUHlFX01EM3NpcE9oWGNNZEVyTEVwVlg0aDd2LU9ZbFhW"
      "X1k2aFUiLCJjcnYiOiJzZWNwMjU2azEifX0.eyJpYXQiOjE3NjUwMDAwMDAsImp0"
      "aSI6ImoxLUVTMjU2SyIsImh0bSI6IlBPU1QiLCJodHUiOiJodHRwczovL3Bkcy5l"
      "eGFtcGxlLmNvbS9vYXV0aC90b2tlbiIsIm5vbmNlIjoic0xpZFF4RGlJVXNHNzFH"
      "V3l6czAyUkROTzZyN3ZfcldWNEpoOHR3WVZvMCJ9.qkmVYFjt6lZ1oF6KdygrY0u"
      "BITnsWY6305PEoW5uWHjwRZxIFtVXovrs_oluTWP0WgsETK7XCIwmJuRKQp67kw",
      "eyJhbGciOiJFUzI1NksiLCJ0eXAiOiJkcG9wK2p3dCIsImp3ayI6eyJrdHkiOiJF"
      "QyIsIngiOiI1TkRxUU13SmVOa2x2VVc3dWQ3SExCTHFkNDZKTm9pUHlXS3NQTnVD"
      "RnhVIiwieSI6IjVPaFRvUHlFX01EM3NpcE9oWGNNZEVyTEVwVlg0aDd2LU9ZbFhW"
      "X1k2aFUiLCJjcnYiOiJzZWNwMjU2azEifX0.eyJpYXQiOjE3NjUwMDAwMDAsImp0"
      "aSI6ImoyLUVTMjU2SyIsImh0bSI6IkdFVCIsImh0dSI6Imh0dHBzOi8vUERTLmV4"
      "YW1wbGUuY29tOjQ0My94cnBjLy4vY29tLmF0cHJvdG8uc2VydmVyLmdldFNlc3Np"
      "b24_eD0xIiwibm9uY2UiOiJzTGlkUXhEaUlVc0c3MUdXeXpzMDJSRE5PNnI3dl9y"
      "V1Y0Smg4dHdZVm8wIiwiYXRoIjoiX3pwZHp3ZTlhajVWQ1VEYk0tTkFWQktZZXdf"
      "TTBTRlY5bzV4NllFWHVoUSJ9.kML4KAW00bRhUpXtFlhHUzIyH53XcKifK29zPms"
      "q9dFavt8KiS6RA2YYXaxtBui1pQek9VE7pHhc-ji_4CzEqw",
      "eyJhbGciOiJFUzI1NksiLCJ0eXAiOiJKV1QiLCJqd2siOnsia3R5IjoiRUMiLCJ4"
      "IjoiNU5EcVFNd0plTmtsdlVXN3VkN0hMQkxxZDQ2Sk5vaVB5V0tzUE51Q0Z4VSIs"
      "InkiOiI1T2hUb1B5RV9NRDNzaXBPaFhjTWRFckxFcFZYNGg3di1PWWxYVl9ZNmhV"
      "IiwiY3J2Ijoic2VjcDI1NmsxIn19.eyJpYXQiOjE3NjUwMDAwMDAsImp0aSI6Imo"
      "zIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vcGRzLmV4YW1wbGUuY29tL29"
      "hdXRoL3Rva2VuIiwibm9uY2UiOiJzTGlkUXhEaUlVc0c3MUdXeXpzMDJSRE5PNnI"
      "3dl9yV1Y0Smg4dHdZVm8wIn0.dQAyZQflLK-tomlEjJVAXVmzUCGtCkSJwQR_6_J"
      "s2D8TZudeVA2Qnc81jwdQtmFmbPFqqwSS1uNGyAAp1VdPwQ" },
};
