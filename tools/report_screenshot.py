"""Screenshot of a compile report, full page at 1400 pixels wide, in headless chromium:
`python tools/report_screenshot.py REPORT.html OUT.png` (selenium, chromium, chromium-driver)."""
import pathlib
import shutil
import sys

from selenium import webdriver


def screenshot(html, png, width=1400):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},1000"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")))
    try:
        driver.get(pathlib.Path(html).resolve().as_uri())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, height + 200)  # the window's frame takes some of it
        inner = driver.execute_script("return window.innerHeight")
        driver.set_window_size(width, height + 200 + (height - inner))
        pathlib.Path(png).write_bytes(driver.get_screenshot_as_png())
    finally:
        driver.quit()


if __name__ == "__main__":
    screenshot(sys.argv[1], sys.argv[2])
