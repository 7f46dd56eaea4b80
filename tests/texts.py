"""A small real-text corpus written for the tests (plain English about everyday science topics)."""

DOCUMENTS = [
    ("d0", "Vitamin D and bone health", "Vitamin D helps the body absorb calcium, which keeps bones strong. "
     "People who rarely see the sun may need supplements during the winter months."),
    ("d1", "Statins after a heart attack", "Statins lower cholesterol in the blood. Doctors prescribe them to "
     "patients at high risk of heart disease, and trials show fewer strokes among those who take them."),
    ("d2", "Green tea", "Green tea contains catechins, antioxidants that some studies link to a lower risk of "
     "cancer, although the evidence in humans remains mixed."),
    ("d3", "Wing design in a propeller slipstream", "The lift of a wing increases inside the slipstream of a "
     "propeller. Wind tunnel experiments measured the spanwise load at several angles of attack."),
    ("d4", "Boundary layer transition", "At high Reynolds numbers the boundary layer on a flat plate becomes "
     "turbulent. Heat transfer and skin friction both rise after transition."),
    ("d5", "Sleep and memory", "During deep sleep the brain replays the day's experiences, which strengthens "
     "memories. Students who sleep after studying remember more the next day."),
    ("d6", "Coffee and the heart", "Moderate coffee drinking is not linked to heart disease in large cohort "
     "studies; caffeine may briefly raise blood pressure."),
    ("d7", "Supersonic flow over a cone", "Shock waves form on a cone in supersonic flow. The pressure on the "
     "surface was measured and compared with conical flow theory."),
    ("d8", "Calcium and vitamin D supplements", "Older adults often take calcium together with vitamin D to "
     "prevent fractures, but large doses can cause kidney stones."),
    ("d9", "Exercise and blood pressure", "Regular aerobic exercise lowers blood pressure by a few points, "
     "about as much as a single drug in some patients."),
    ("d10", "Empty document", ""),
    ("d11", "Heat transfer in laminar flow", "Laminar boundary layers transfer less heat than turbulent ones; "
     "the Stanton number depends on the Reynolds number and the Prandtl number."),
]

QUERIES = [
    "does vitamin d prevent fractures",
    "statins and heart disease",
    "lift of a wing in a propeller slipstream",
    "turbulent boundary layer heat transfer",
    "coffee blood pressure",
    "sleep",
]
