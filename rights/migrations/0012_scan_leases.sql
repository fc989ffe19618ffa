-- Which server runs an uploaded scan, and until when its claim holds without renewal. Several servers
-- may share a data directory: one that starts must not take a scan a live server is running, and a
-- scan whose server died must be taken up by one that lives (rights/scans.py claim_scan).
ALTER TABLE scans ADD COLUMN owner TEXT;
ALTER TABLE scans ADD COLUMN lease_until TEXT;
